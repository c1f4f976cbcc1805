{{/* The name of every object, as in deploy/. */}}
{{- define "mydemo.name" -}}mydemo-controller{{- end -}}

{{/* Labels of every object: deploy/'s, plus part-of as its kustomization adds. */}}
{{- define "mydemo.labels" -}}
app.kubernetes.io/name: mydemo-controller
app.kubernetes.io/component: controller
app.kubernetes.io/part-of: crddemo
{{- end -}}

{{/* The Pod selector; immutable once a Deployment exists. */}}
{{- define "mydemo.selector" -}}
app.kubernetes.io/name: mydemo-controller
app.kubernetes.io/component: controller
{{- end -}}
