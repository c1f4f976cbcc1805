package main

import (
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// recordedResults is a small run as the bench records it: 4 Mydemos, the
// floor ahead of the controller, an outage with the server back at 5 s,
// and a lateness histogram.
func recordedResults() *Results {
	return &Results{
		N:           4,
		Convergence: &ConvergenceResult{ReadySeries: []Point{{0, 0}, {1, 1}, {2, 3}, {3, 4}}},
		Floor:       &FloorResult{ReadySeries: []Point{{0, 0}, {0.5, 2}, {1.5, 4}}},
		Outage: &OutageResult{
			PeriodSeconds: 10, FailureThreshold: 3, ServerBackSeconds: 5,
			EndpointsReadySeries: []Point{{0, 4}, {3, 1}, {4, 0}, {6, 4}},
			ReadySeries:          []Point{{0, 4}, {3.2, 0}, {6.5, 4}},
		},
		ProbeLateness: &LatenessHistogram{
			UpperBounds: []float64{0.001, 0.002, 0.004, 0.008},
			Cumulative:  []float64{900, 970, 990, 1000},
			Count:       1000,
		},
	}
}

func TestFiguresRenderRecordedSeries(t *testing.T) {
	r := recordedResults()
	dir := t.TempDir()
	if err := r.writeFigures(dir); err != nil {
		t.Fatal(err)
	}
	blue, grey, orange := "#1F77B4", "#707070", "#FF7F0E"
	h := r.ProbeLateness
	lateness := make([]Point, len(h.UpperBounds))
	for i, le := range h.UpperBounds {
		// The x axis is logarithmic, the y axis a percentage.
		lateness[i] = Point{math.Log10(le), 100 * h.Cumulative[i] / h.Count}
	}
	for _, tc := range []struct {
		file  string
		texts []string
		lines []wantLine
		// yRef is the line whose lowest and highest y are 0 and the
		// lines' yMax: the grid, or a line drawn from 0 to N.
		yRef yReference
	}{{
		file:  "convergence.svg",
		texts: []string{"Convergence of 4 Mydemos", "controller", "floor (3 plain writes per Mydemo)", "seconds from the first create"},
		lines: []wantLine{
			{blue, false, stepVertices(r.Convergence.ReadySeries), 4},
			{grey, true, stepVertices(r.Floor.ReadySeries), 4},
		},
		yRef: yReference{stroke: gridColor},
	}, {
		file:  "outage.svg",
		texts: []string{"endpoints ready (EndpointSlices)", "Mydemos Ready=True (status)", "server back", "seconds from the server's stop"},
		lines: []wantLine{
			{blue, false, stepVertices(r.Outage.EndpointsReadySeries), 4},
			{orange, true, stepVertices(r.Outage.ReadySeries), 4},
			{grey, true, []Point{{5, 0}, {5, 4}}, 4},
		},
		// The axis has headroom for the legend: the server-back line
		// spans 0 to N.
		yRef: yReference{stroke: grey, vertical: true},
	}, {
		file:  "lateness.svg",
		texts: []string{"Probe lateness: 1000 probes of the restarted controller", "probes started at most x s late"},
		lines: []wantLine{{blue, false, lateness, 100}},
		yRef:  yReference{stroke: gridColor},
	}} {
		t.Run(tc.file, func(t *testing.T) {
			doc := readSVG(t, filepath.Join(dir, tc.file))
			for _, want := range tc.texts {
				if !slices.Contains(doc.texts, want) {
					t.Errorf("no text %q in %q", want, doc.texts)
				}
			}
			lo, hi, ok := doc.yReference(tc.yRef)
			if !ok {
				t.Fatalf("no y reference %+v", tc.yRef)
			}
			for _, want := range tc.lines {
				if !doc.hasLine(want, lo, hi) {
					t.Errorf("no %s line (dashed %v) through %v (y axis 0 to %g); lines: %v", want.stroke, want.dashed, want.vertices, want.yMax, doc.paths)
				}
			}
		})
	}
}

func TestFiguresNeedTheirData(t *testing.T) {
	r := recordedResults()
	r.Floor, r.Outage, r.ProbeLateness = nil, nil, nil
	dir := t.TempDir()
	if err := r.writeFigures(dir); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"convergence.svg"}) {
		t.Errorf("files %v, want convergence.svg only (no outage, no lateness recorded)", names)
	}
	doc := readSVG(t, filepath.Join(dir, "convergence.svg"))
	if slices.Contains(doc.texts, "floor (3 plain writes per Mydemo)") {
		t.Error("a floor line without a floor series")
	}
	if md := r.markdown(); !strings.Contains(md, "](convergence.svg)") || strings.Contains(md, "outage.svg") {
		t.Errorf("results.md links %q, want convergence.svg only", md)
	}
}

// stepVertices are the corners of a count drawn as steps: each point
// holds its value until the next one's time.
func stepVertices(pts []Point) []Point {
	out := []Point{pts[0]}
	for i := 1; i < len(pts); i++ {
		out = append(out, Point{pts[i][0], pts[i-1][1]}, pts[i])
	}
	return out
}

// wantLine is a line of one colour through vertices. Its x values are
// compared after scaling both to their own extent (the picture's x axis
// may span more than one line), its y values against a reference drawn
// from 0 to yMax.
type wantLine struct {
	stroke   string
	dashed   bool
	vertices []Point
	yMax     float64
}

type svgPath struct {
	vertices []Point
	stroke   string
	dashed   bool
}

type svgDoc struct {
	texts []string
	paths []svgPath
}

// readSVG parses the whole of an SVG file as XML and collects its texts
// and its straight-line paths.
func readSVG(t *testing.T, path string) svgDoc {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var doc svgDoc
	dec := xml.NewDecoder(f)
	depth, inText := 0, false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s is not well-formed XML: %v", path, err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if depth == 0 && (tok.Name.Local != "svg" || tok.Name.Space != "http://www.w3.org/2000/svg") {
				t.Fatalf("%s: root element %v, want svg", path, tok.Name)
			}
			depth++
			attr := map[string]string{}
			for _, a := range tok.Attr {
				attr[a.Name.Local] = a.Value
			}
			switch tok.Name.Local {
			case "text":
				inText = true
				doc.texts = append(doc.texts, "")
			case "path":
				if p, ok := parsePath(attr["d"], attr["style"]); ok {
					doc.paths = append(doc.paths, p)
				}
			}
		case xml.EndElement:
			depth--
			inText = false
		case xml.CharData:
			if inText {
				doc.texts[len(doc.texts)-1] += string(tok)
			}
		}
	}
	if depth != 0 || len(doc.texts) == 0 {
		t.Fatalf("%s: unbalanced or empty document", path)
	}
	return doc
}

// parsePath reads a path made of M and L commands only (lines, not glyphs
// or arcs) and its stroke.
func parsePath(d, style string) (svgPath, bool) {
	var p svgPath
	for _, decl := range strings.Split(style, ";") {
		k, v, _ := strings.Cut(decl, ":")
		switch k {
		case "stroke":
			p.stroke = v
		case "stroke-dasharray":
			p.dashed = v != "" && v != "none"
		}
	}
	if p.stroke == "" {
		return p, false
	}
	for _, cmd := range strings.FieldsFunc(d, func(r rune) bool { return r == 'M' || r == 'L' }) {
		xs, ys, ok := strings.Cut(cmd, ",")
		x, errX := strconv.ParseFloat(xs, 64)
		y, errY := strconv.ParseFloat(ys, 64)
		if !ok || errX != nil || errY != nil {
			return p, false
		}
		p.vertices = append(p.vertices, Point{x, y})
	}
	return p, len(p.vertices) > 1
}

// gridColor is the stroke of gonum/plot's grid lines.
const gridColor = "#808080"

// yReference picks the straight lines of one stroke, horizontal ones (the
// grid, at the y axis' ticks, 0 and the top among them) or a vertical one.
type yReference struct {
	stroke   string
	vertical bool
}

// yReference is the lowest and highest y of the lines ref picks.
func (d svgDoc) yReference(ref yReference) (lo, hi float64, ok bool) {
	for _, p := range d.paths {
		if p.stroke != ref.stroke || len(p.vertices) != 2 {
			continue
		}
		a, b := p.vertices[0], p.vertices[1]
		if (ref.vertical && a[0] != b[0]) || (!ref.vertical && a[1] != b[1]) {
			continue
		}
		if !ok {
			lo, hi, ok = a[1], a[1], true
		}
		lo, hi = min(lo, a[1], b[1]), max(hi, a[1], b[1])
	}
	return lo, hi, ok && hi > lo
}

// hasLine reports whether d has want, with y 0 drawn at lo and want.yMax
// at hi, to within 0.5 % of the axes.
func (d svgDoc) hasLine(want wantLine, lo, hi float64) bool {
	for _, p := range d.paths {
		if p.stroke != want.stroke || p.dashed != want.dashed || len(p.vertices) != len(want.vertices) {
			continue
		}
		gotX, wantX := normalizeX(p.vertices), normalizeX(want.vertices)
		same := true
		for i, v := range want.vertices {
			gotY := (p.vertices[i][1] - lo) / (hi - lo)
			if math.Abs(gotX[i]-wantX[i]) > 0.005 || math.Abs(gotY-v[1]/want.yMax) > 0.005 {
				same = false
				break
			}
		}
		if same {
			return true
		}
	}
	return false
}

// normalizeX scales x to [0, 1] over the points' own extent (a zero
// extent stays 0).
func normalizeX(pts []Point) []float64 {
	lo, hi := pts[0][0], pts[0][0]
	for _, p := range pts {
		lo, hi = min(lo, p[0]), max(hi, p[0])
	}
	out := make([]float64, len(pts))
	for i, p := range pts {
		if hi > lo {
			out[i] = (p[0] - lo) / (hi - lo)
		}
	}
	return out
}
