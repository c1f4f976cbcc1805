package main

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// The pictures are SVG: text, a few KB each, diffable in docs/bench/, and
// sharp at any size in a browser.
const (
	figureWidth  = 7 * vg.Inch
	figureHeight = 3.5 * vg.Inch
)

// legendHeadroom is the y axis' top as a multiple of the highest count,
// where the curves leave no corner free for the legend.
const legendHeadroom = 1.3

// figure is one picture of a run, written beside results.json.
type figure struct {
	file  string
	title string
	draw  func() (*plot.Plot, error)
}

// figures are the pictures r has the data for: convergence against the
// floor, the outage, and the probe lateness.
func (r *Results) figures() []figure {
	var out []figure
	if c := r.Convergence; c != nil && len(c.ReadySeries) > 0 {
		out = append(out, figure{"convergence.svg", "Convergence: Mydemos Ready over time, controller against the floor", r.convergencePlot})
	}
	if o := r.Outage; o != nil && len(o.EndpointsReadySeries) > 0 {
		out = append(out, figure{"outage.svg", "Outage: endpoints and Mydemos ready through the server's stop and return", r.outagePlot})
	}
	if h := r.ProbeLateness; h != nil && h.Count > 0 {
		out = append(out, figure{"lateness.svg", "Probe lateness: share of probes started within a given delay of their schedule", r.latenessPlot})
	}
	return out
}

// writeFigures renders every figure into dir.
func (r *Results) writeFigures(dir string) error {
	var errs []error
	for _, f := range r.figures() {
		if err := writeFigure(f, filepath.Join(dir, f.file)); err != nil {
			errs = append(errs, fmt.Errorf("writing %s: %w", f.file, err))
		}
	}
	return errors.Join(errs...)
}

func writeFigure(f figure, path string) error {
	p, err := f.draw()
	if err != nil {
		return err
	}
	c := vgsvg.New(figureWidth, figureHeight)
	p.Draw(draw.New(c))
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return err
	}
	return os.WriteFile(path, withFontFallback(b.Bytes()), 0o644)
}

// withFontFallback names fonts metrically compatible with the one the
// plot was laid out in (Liberation Serif has the widths of Times New
// Roman) after it, so that a viewer without Liberation keeps the labels
// inside the layout. Embedding the font instead would cost some 300 KB per
// picture.
func withFontFallback(svg []byte) []byte {
	return bytes.ReplaceAll(svg, []byte("font-family:Liberation Serif;"),
		[]byte("font-family:'Liberation Serif','Times New Roman',Times,serif;"))
}

// Line colours: the controller's in blue, what it is measured against in
// grey, a second measure of the controller's in orange.
func controllerColor() color.Color { return color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff} }
func referenceColor() color.Color  { return color.RGBA{R: 0x70, G: 0x70, B: 0x70, A: 0xff} }
func secondColor() color.Color     { return color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff} }

// stepLine draws a count over time, each point holding until the next.
func stepLine(p *plot.Plot, name string, pts []Point, c color.Color, dashed bool) error {
	xys := make(plotter.XYs, len(pts))
	for i, pt := range pts {
		xys[i] = plotter.XY{X: pt[0], Y: pt[1]}
	}
	l, err := plotter.NewLine(xys)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	l.StepStyle = plotter.PostStep
	l.Color = c
	l.Width = vg.Points(1.5)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
	}
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}

// newPlot is a plot with the layout every figure shares.
func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	return p
}

// countTicks marks 0, half of n and n on a count's axis, the grid lines
// with them: the default ticks of an axis with headroom above n miss n.
func countTicks(n int) plot.ConstantTicks {
	return plot.ConstantTicks{
		{Value: 0, Label: "0"},
		{Value: float64(n) / 2, Label: strconv.FormatFloat(float64(n)/2, 'f', -1, 64)},
		{Value: float64(n), Label: strconv.Itoa(n)},
	}
}

func (r *Results) convergencePlot() (*plot.Plot, error) {
	p := newPlot(fmt.Sprintf("Convergence of %d Mydemos", r.N), "seconds from the first create", "Mydemos Ready=True")
	if err := stepLine(p, "controller", r.Convergence.ReadySeries, controllerColor(), false); err != nil {
		return nil, err
	}
	if f := r.Floor; f != nil && len(f.ReadySeries) > 0 {
		if err := stepLine(p, "floor (3 plain writes per Mydemo)", f.ReadySeries, referenceColor(), true); err != nil {
			return nil, err
		}
	}
	// Counts rise from nothing to N: the top left stays free.
	p.Legend.Top, p.Legend.Left = true, true
	p.Y.Max = float64(r.N)
	p.Y.Tick.Marker = countTicks(r.N)
	return p, nil
}

func (r *Results) outagePlot() (*plot.Plot, error) {
	o := r.Outage
	p := newPlot(fmt.Sprintf("Outage of the %d Mydemos' server (probe every %d s, threshold %d)", r.N, o.PeriodSeconds, o.FailureThreshold),
		"seconds from the server's stop", "ready")
	if err := stepLine(p, "endpoints ready (EndpointSlices)", o.EndpointsReadySeries, controllerColor(), false); err != nil {
		return nil, err
	}
	if len(o.ReadySeries) > 0 {
		if err := stepLine(p, "Mydemos Ready=True (status)", o.ReadySeries, secondColor(), true); err != nil {
			return nil, err
		}
	}
	back, err := plotter.NewLine(plotter.XYs{{X: o.ServerBackSeconds, Y: 0}, {X: o.ServerBackSeconds, Y: float64(r.N)}})
	if err != nil {
		return nil, err
	}
	back.Color = referenceColor()
	back.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
	p.Add(back)
	p.Legend.Add("server back", back)
	// The counts fall from N and rise back to it at times that vary from
	// run to run, so no corner is free: headroom above N holds the legend.
	p.Legend.Top, p.Legend.Left = true, true
	p.Y.Max = legendHeadroom * float64(r.N)
	p.Y.Tick.Marker = countTicks(r.N)
	return p, nil
}

func (r *Results) latenessPlot() (*plot.Plot, error) {
	h := r.ProbeLateness
	p := newPlot(fmt.Sprintf("Probe lateness: %.0f probes of the restarted controller", h.Count),
		"seconds late (at most)", "% of probes")
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	xys := make(plotter.XYs, len(h.UpperBounds))
	for i, le := range h.UpperBounds {
		xys[i] = plotter.XY{X: le, Y: 100 * h.Cumulative[i] / h.Count}
	}
	l, pts, err := plotter.NewLinePoints(xys)
	if err != nil {
		return nil, err
	}
	l.Color, pts.Color = controllerColor(), controllerColor()
	pts.Shape = draw.CircleGlyph{}
	pts.Radius = vg.Points(2)
	p.Add(l, pts)
	p.Legend.Add("probes started at most x s late", l, pts)
	// The share rises to 100 %: the bottom right stays free.
	p.Y.Max = 100
	return p, nil
}
