module github.com/crddemo/crddemo

go 1.26.0

require (
	github.com/miekg/dns v1.1.73
	github.com/spf13/pflag v1.0.10
	go.uber.org/goleak v1.3.0
	golang.org/x/net v0.62.0
	golang.org/x/sys v0.49.0
	gonum.org/v1/plot v0.17.0
	google.golang.org/grpc v1.83.2
	k8s.io/api v0.37.2
	k8s.io/apiextensions-apiserver v0.37.2
	k8s.io/apimachinery v0.37.2
	k8s.io/client-go v0.37.2
	k8s.io/component-base v0.37.2
	k8s.io/klog/v2 v2.140.0
	k8s.io/utils v0.0.0-20260626114624-be93311217bd
	sigs.k8s.io/structured-merge-diff/v6 v6.4.2
	sigs.k8s.io/yaml v1.6.0
)

require (
	codeberg.org/go-fonts/liberation v0.5.0 // indirect
	codeberg.org/go-latex/latex v0.2.0 // indirect
	codeberg.org/go-pdf/fpdf v0.11.1 // indirect
	git.sr.ht/~sbinet/gg v0.7.0 // indirect
	github.com/Masterminds/semver/v3 v3.5.0 // indirect
	github.com/ajstarks/svgo v0.0.0-20211024235047-1546f124cd8b // indirect
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/blang/semver/v4 v4.0.0 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/davecgh/go-spew v1.1.2-0.20180830191138-d8f796af33cc // indirect
	github.com/emicklei/go-restful/v3 v3.13.0 // indirect
	github.com/fatih/color v1.19.0 // indirect
	github.com/fxamacker/cbor/v2 v2.9.1 // indirect
	github.com/go-logr/logr v1.4.4 // indirect
	github.com/go-logr/zapr v1.3.0 // indirect
	github.com/go-openapi/jsonpointer v1.0.0 // indirect
	github.com/go-openapi/jsonreference v1.0.0 // indirect
	github.com/go-openapi/swag v0.27.1 // indirect
	github.com/go-openapi/swag/cmdutils v0.27.1 // indirect
	github.com/go-openapi/swag/conv v0.27.1 // indirect
	github.com/go-openapi/swag/fileutils v0.27.1 // indirect
	github.com/go-openapi/swag/jsonutils v0.27.1 // indirect
	github.com/go-openapi/swag/loading v0.27.1 // indirect
	github.com/go-openapi/swag/mangling v0.27.1 // indirect
	github.com/go-openapi/swag/netutils v0.27.1 // indirect
	github.com/go-openapi/swag/pools v0.27.1 // indirect
	github.com/go-openapi/swag/stringutils v0.27.1 // indirect
	github.com/go-openapi/swag/typeutils v0.27.1 // indirect
	github.com/go-openapi/swag/yamlutils v0.27.1 // indirect
	github.com/gobuffalo/flect v1.0.3 // indirect
	github.com/gogo/protobuf v1.3.2 // indirect
	github.com/golang/freetype v0.0.0-20170609003504-e2365dfdc4a0 // indirect
	github.com/google/gnostic-models v0.7.1 // indirect
	github.com/google/go-cmp v0.7.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/json-iterator/go v1.1.12 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/kylelemons/godebug v1.1.0 // indirect
	github.com/mattn/go-colorable v0.1.14 // indirect
	github.com/mattn/go-isatty v0.0.20 // indirect
	github.com/modern-go/concurrent v0.0.0-20180306012644-bacd9c7ef1dd // indirect
	github.com/modern-go/reflect2 v1.0.3-0.20250322232337-35a7c28c31ee // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/pmezard/go-difflib v1.0.1-0.20181226105442-5d4384ee4fb2 // indirect
	github.com/prometheus/client_golang v1.24.0 // indirect
	github.com/prometheus/client_model v0.6.2 // indirect
	github.com/prometheus/common v0.70.0 // indirect
	github.com/prometheus/procfs v0.21.1 // indirect
	github.com/spf13/cobra v1.10.2 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
	github.com/x448/float16 v0.8.4 // indirect
	go.opentelemetry.io/otel v1.45.0 // indirect
	go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc v1.45.0 // indirect
	go.opentelemetry.io/otel/sdk/metric v1.45.0 // indirect
	go.opentelemetry.io/otel/trace v1.45.0 // indirect
	go.uber.org/multierr v1.11.0 // indirect
	go.uber.org/zap v1.27.1 // indirect
	go.yaml.in/yaml/v2 v2.4.4 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/image v0.30.0 // indirect
	golang.org/x/mod v0.41.0 // indirect
	golang.org/x/oauth2 v0.36.0 // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/term v0.47.0 // indirect
	golang.org/x/text v0.43.0 // indirect
	golang.org/x/time v0.15.0 // indirect
	golang.org/x/tools v0.51.0 // indirect
	google.golang.org/genproto/googleapis/api v0.0.0-20260803160001-6ac0973c030d // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260803160001-6ac0973c030d // indirect
	google.golang.org/protobuf v1.36.12 // indirect
	gopkg.in/evanphx/json-patch.v4 v4.13.0 // indirect
	gopkg.in/inf.v0 v0.9.1 // indirect
	k8s.io/code-generator v0.37.2 // indirect
	k8s.io/gengo/v2 v2.0.0-20260408192533-25e2208e0dc3 // indirect
	k8s.io/kube-openapi v0.0.0-20260721132016-d427ff9ee9ad // indirect
	sigs.k8s.io/controller-tools v0.23.0 // indirect
	sigs.k8s.io/json v0.0.0-20250730193827-2d320260d730 // indirect
	sigs.k8s.io/randfill v1.0.0 // indirect
)

tool (
	k8s.io/code-generator/cmd/applyconfiguration-gen
	k8s.io/code-generator/cmd/applyconfiguration-gen/args
	k8s.io/code-generator/cmd/applyconfiguration-gen/generators
	k8s.io/code-generator/cmd/client-gen
	k8s.io/code-generator/cmd/client-gen/args
	k8s.io/code-generator/cmd/client-gen/generators
	k8s.io/code-generator/cmd/client-gen/generators/fake
	k8s.io/code-generator/cmd/client-gen/generators/scheme
	k8s.io/code-generator/cmd/client-gen/generators/util
	k8s.io/code-generator/cmd/client-gen/types
	k8s.io/code-generator/cmd/conversion-gen
	k8s.io/code-generator/cmd/conversion-gen/args
	k8s.io/code-generator/cmd/conversion-gen/generators
	k8s.io/code-generator/cmd/deepcopy-gen
	k8s.io/code-generator/cmd/deepcopy-gen/args
	k8s.io/code-generator/cmd/deepcopy-gen/generators
	k8s.io/code-generator/cmd/deepcopy-gen/output_tests
	k8s.io/code-generator/cmd/deepcopy-gen/output_tests/aliases
	k8s.io/code-generator/cmd/deepcopy-gen/output_tests/builtins
	k8s.io/code-generator/cmd/deepcopy-gen/output_tests/interfaces
	k8s.io/code-generator/cmd/deepcopy-gen/output_tests/maps
	k8s.io/code-generator/cmd/deepcopy-gen/output_tests/otherpkg
	k8s.io/code-generator/cmd/deepcopy-gen/output_tests/pointer
	k8s.io/code-generator/cmd/deepcopy-gen/output_tests/slices
	k8s.io/code-generator/cmd/deepcopy-gen/output_tests/structs
	k8s.io/code-generator/cmd/deepcopy-gen/output_tests/wholepkg
	k8s.io/code-generator/cmd/defaulter-gen
	k8s.io/code-generator/cmd/defaulter-gen/args
	k8s.io/code-generator/cmd/defaulter-gen/generators
	k8s.io/code-generator/cmd/defaulter-gen/output_tests
	k8s.io/code-generator/cmd/defaulter-gen/output_tests/empty
	k8s.io/code-generator/cmd/defaulter-gen/output_tests/marker
	k8s.io/code-generator/cmd/defaulter-gen/output_tests/marker/external
	k8s.io/code-generator/cmd/defaulter-gen/output_tests/marker/external/external
	k8s.io/code-generator/cmd/defaulter-gen/output_tests/marker/external2
	k8s.io/code-generator/cmd/defaulter-gen/output_tests/marker/external3
	k8s.io/code-generator/cmd/defaulter-gen/output_tests/pointer
	k8s.io/code-generator/cmd/defaulter-gen/output_tests/slices
	k8s.io/code-generator/cmd/defaulter-gen/output_tests/wholepkg
	k8s.io/code-generator/cmd/go-to-protobuf
	k8s.io/code-generator/cmd/go-to-protobuf/protobuf
	k8s.io/code-generator/cmd/go-to-protobuf/protoc-gen-gogo
	k8s.io/code-generator/cmd/informer-gen
	k8s.io/code-generator/cmd/informer-gen/args
	k8s.io/code-generator/cmd/informer-gen/generators
	k8s.io/code-generator/cmd/lister-gen
	k8s.io/code-generator/cmd/lister-gen/args
	k8s.io/code-generator/cmd/lister-gen/generators
	k8s.io/code-generator/cmd/prerelease-lifecycle-gen
	k8s.io/code-generator/cmd/prerelease-lifecycle-gen/args
	k8s.io/code-generator/cmd/prerelease-lifecycle-gen/prerelease-lifecycle-generators
	k8s.io/code-generator/cmd/register-gen
	k8s.io/code-generator/cmd/register-gen/args
	k8s.io/code-generator/cmd/register-gen/generators
	k8s.io/code-generator/cmd/register-gen/output_tests
	k8s.io/code-generator/cmd/register-gen/output_tests/simpletype/v1
	k8s.io/code-generator/cmd/validation-gen
	k8s.io/code-generator/cmd/validation-gen/output_tests
	k8s.io/code-generator/cmd/validation-gen/output_tests/all_types_match/trivial
	k8s.io/code-generator/cmd/validation-gen/output_tests/all_types_match/with_field_validations
	k8s.io/code-generator/cmd/validation-gen/output_tests/all_types_match/with_type_validations
	k8s.io/code-generator/cmd/validation-gen/output_tests/cohorts
	k8s.io/code-generator/cmd/validation-gen/output_tests/cross_pkg
	k8s.io/code-generator/cmd/validation-gen/output_tests/elide_no_validations
	k8s.io/code-generator/cmd/validation-gen/output_tests/embedded
	k8s.io/code-generator/cmd/validation-gen/output_tests/maps/keys
	k8s.io/code-generator/cmd/validation-gen/output_tests/maps/map_of_primitive
	k8s.io/code-generator/cmd/validation-gen/output_tests/maps/map_of_struct
	k8s.io/code-generator/cmd/validation-gen/output_tests/maps/multiple_validations
	k8s.io/code-generator/cmd/validation-gen/output_tests/maps/typedef_to_map
	k8s.io/code-generator/cmd/validation-gen/output_tests/multiple_packages/consumer
	k8s.io/code-generator/cmd/validation-gen/output_tests/multiple_packages/external
	k8s.io/code-generator/cmd/validation-gen/output_tests/multiple_packages/registered
	k8s.io/code-generator/cmd/validation-gen/output_tests/multiple_packages/types
	k8s.io/code-generator/cmd/validation-gen/output_tests/multiple_tags
	k8s.io/code-generator/cmd/validation-gen/output_tests/no_generation
	k8s.io/code-generator/cmd/validation-gen/output_tests/no_types_match
	k8s.io/code-generator/cmd/validation-gen/output_tests/one_type_match/trivial
	k8s.io/code-generator/cmd/validation-gen/output_tests/one_type_match/with_field_validations
	k8s.io/code-generator/cmd/validation-gen/output_tests/one_type_match/with_type_validations
	k8s.io/code-generator/cmd/validation-gen/output_tests/ordering/structs
	k8s.io/code-generator/cmd/validation-gen/output_tests/ordering/typedefs
	k8s.io/code-generator/cmd/validation-gen/output_tests/pointers
	k8s.io/code-generator/cmd/validation-gen/output_tests/primitives
	k8s.io/code-generator/cmd/validation-gen/output_tests/public_private
	k8s.io/code-generator/cmd/validation-gen/output_tests/ratcheting/default_behavior
	k8s.io/code-generator/cmd/validation-gen/output_tests/ratcheting/list
	k8s.io/code-generator/cmd/validation-gen/output_tests/ratcheting/maps/eachkey
	k8s.io/code-generator/cmd/validation-gen/output_tests/ratcheting/maps/eachval
	k8s.io/code-generator/cmd/validation-gen/output_tests/ratcheting/subfield
	k8s.io/code-generator/cmd/validation-gen/output_tests/recursive/maps
	k8s.io/code-generator/cmd/validation-gen/output_tests/recursive/pointers
	k8s.io/code-generator/cmd/validation-gen/output_tests/recursive/slices
	k8s.io/code-generator/cmd/validation-gen/output_tests/slices/multiple_validations
	k8s.io/code-generator/cmd/validation-gen/output_tests/slices/slice_of_primitive
	k8s.io/code-generator/cmd/validation-gen/output_tests/slices/slice_of_struct
	k8s.io/code-generator/cmd/validation-gen/output_tests/slices/typedef_to_slice
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/customvalidation
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/dependentforbidden
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/dependentrequired
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/eachkey
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/eachval/map_of_primitive
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/eachval/map_of_struct
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/eachval/slice_of_pointers
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/eachval/slice_of_primitive
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/eachval/slice_of_struct
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/eachval/typedef_to_map
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/eachval/typedef_to_slice
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/enum
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/enum/options
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/forbidden
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/format/k8s-extended-resource-name
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/format/k8s-label-key
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/format/k8s-label-value
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/format/k8s-long-name-caseless
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/format/k8s-long-name/k8s-long-name
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/format/k8s-prefixed-label-key
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/format/k8s-resource-fully-qualified-name
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/format/k8s-resource-pool-name
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/format/k8s-short-name/k8s-short-name
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/format/k8s-uuid
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/immutable
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/item/immutable_transitions
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/item/multiple_keys
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/item/single_key
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/item/subfield
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/item/typedef
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/item/union/simple
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/item/union/typedef
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/item/zerorooneof/simple
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/item/zerorooneof/typedef
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/levels/atomicslice
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/levels/enums
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/levels/listkeys
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/levels/listmapitem
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/levels/listset
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/levels/mapvalidation
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/levels/modes
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/levels/optionalrequired
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/levels/simple
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/levels/structs
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/levels/subfields
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/levels/unions
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/levels/uniquetag
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/listmap/multiple_keys
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/listmap/single_key
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/listset
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/maxbytes
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/maximum
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/maxitems/slice_of_primitive
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/maxitems/slice_of_struct
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/maxitems/typedef_to_slice
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/maxlength
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/maxproperties
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/minimum
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/minitems/slice_of_primitive
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/minitems/slice_of_struct
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/minitems/typedef_to_slice
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/minlength
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/minproperties
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/mode
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/monotonic
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/neq/neq/neqchained
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/neq/neqbool
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/neq/neqint
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/neq/neqstring
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/opaque
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/optional
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/optional/nonzero_defaults
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/optional/zero_defaults
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/options/discriminators
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/options/lists
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/options/maps
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/options/simple
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/options/subfields
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/options/unions
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/options/update
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/required
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/subfield/deep
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/subfield/list
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/subfield/nonincluded
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/subfield/shallow
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/subfield/shortcircuit
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/subfield/unions
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/supported_resources/issubresource
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/supported_resources/root
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/supported_resources/subresource
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/union/union/discriminated/custom_members
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/union/union/discriminated/empty
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/union/union/discriminated/multiple
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/union/union/discriminated/simple
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/union/union/discriminated/sparse
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/union/union/undiscriminated/custom_members
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/union/union/undiscriminated/multiple
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/union/union/undiscriminated/simple
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/unique
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/update/lists
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/update/maps
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/update/primitives
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/validate_false
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/validate_true
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/validatetruealpha
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/validatetruebeta
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/zerooroneof/zerooroneof/custom_members
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/zerooroneof/zerooroneof/multiple
	k8s.io/code-generator/cmd/validation-gen/output_tests/tags/zerooroneof/zerooroneof/simple
	k8s.io/code-generator/cmd/validation-gen/output_tests/type_args
	k8s.io/code-generator/cmd/validation-gen/output_tests/typedefs
	k8s.io/code-generator/cmd/validation-gen/output_tests/types_with_suffix
	k8s.io/code-generator/cmd/validation-gen/output_tests/update_validations/lists
	k8s.io/code-generator/cmd/validation-gen/output_tests/update_validations/maps
	k8s.io/code-generator/cmd/validation-gen/output_tests/update_validations/primitive_pointers
	k8s.io/code-generator/cmd/validation-gen/output_tests/update_validations/primitives
	k8s.io/code-generator/cmd/validation-gen/testscheme
	k8s.io/code-generator/cmd/validation-gen/util
	k8s.io/code-generator/cmd/validation-gen/validators
	sigs.k8s.io/controller-tools/cmd/controller-gen
)
