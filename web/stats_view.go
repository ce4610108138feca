package web

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/server"
)

// The host page's charts (#13), drawn on the server as SVG: no charting
// library, nothing to run in the browser, and the page re-reads them on
// its stream's "config-changed" (a job of the host changed) like its
// other lists. Every shape carries its figures in a <title> (a tooltip,
// read out by screen readers) and its kind in data- attributes.

// Chart geometry, in SVG user units (the chart scales to its box).
const (
	chartW      = 600.0
	chartH      = 120.0
	chartPad    = 4.0
	stripH      = 16.0
	maxBarWidth = 24.0
)

// Colours of the strip and the bars (fixed: the stylesheet is compiled,
// and a chart must read the same in every theme).
const (
	colourOK      = "#16a34a"
	colourWarning = "#d97706"
	colourFailed  = "#dc2626"
	colourNone    = "#e5e7eb"
	colourBar     = "#2563eb"
)

// chartsView is the charts of one host.
type chartsView struct {
	Days      int
	Added     barChart
	Duration  barChart
	Size      lineChart
	Strip     []stripCell
	StripW    float64
	Failures  int
	Successes int
}

// barChart is one bar per backup, scaled to the largest.
type barChart struct {
	Bars []chartBar
	Max  string // the largest value, in words
}

type chartBar struct {
	X, Y, W, H float64
	Fill       string
	Status     string
	Title      string
}

// lineChart is the repository's size, one point per day measured.
type lineChart struct {
	Points string // the polyline's points
	Dots   []chartDot
	Max    string
	Latest string
}

type chartDot struct {
	X, Y  float64
	Title string
}

// stripCell is one day of the success/failure strip.
type stripCell struct {
	X, W   float64
	Fill   string
	Status string // ok, warning, failed, none
	Title  string
}

// newChartsView lays out st.
func newChartsView(st *server.HostStats) chartsView {
	v := chartsView{Days: st.Days}
	added := make([]float64, len(st.Backups))
	took := make([]float64, len(st.Backups))
	for i, b := range st.Backups {
		added[i], took[i] = float64(b.DataAdded), b.DurationSeconds
	}
	v.Added = bars(st.Backups, added, func(b server.BackupPoint) string { return humanBytes(b.DataAdded) + " added" })
	v.Added.Max = humanBytes(uint64(maxOf(added)))
	v.Duration = bars(st.Backups, took, func(b server.BackupPoint) string { return seconds(b.DurationSeconds) })
	v.Duration.Max = seconds(maxOf(took))
	v.Size = sizeLine(st.Repository)
	n := len(st.Strip)
	if n > 0 {
		v.StripW = chartW / float64(n)
	}
	for i, d := range st.Strip {
		c := stripCell{X: float64(i) * v.StripW, W: v.StripW, Fill: colourNone, Status: "none"}
		switch {
		case d.Failed > 0:
			c.Fill, c.Status = colourFailed, "failed"
			v.Failures++
		case d.Warning > 0:
			c.Fill, c.Status = colourWarning, "warning"
		case d.Succeeded > 0:
			c.Fill, c.Status = colourOK, "ok"
			v.Successes++
		}
		c.Title = fmt.Sprintf("%s: %d succeeded, %d with warnings, %d failed", d.Day, d.Succeeded, d.Warning, d.Failed)
		v.Strip = append(v.Strip, c)
	}
	return v
}

// bars draws one bar per backup: its value scaled to the largest, its
// colour its status.
func bars(backups []server.BackupPoint, vals []float64, label func(server.BackupPoint) string) barChart {
	var c barChart
	if len(backups) == 0 {
		return c
	}
	top := maxOf(vals)
	slot := chartW / float64(len(backups))
	w := min(slot*0.8, maxBarWidth)
	for i, b := range backups {
		h := 1.0 // a failure or an empty backup still shows
		if top > 0 {
			h = max(vals[i]/top*(chartH-2*chartPad), 1)
		}
		fill := colourBar
		switch b.Status {
		case "failed", "interrupted":
			fill = colourFailed
		case "warning":
			fill = colourWarning
		}
		at, _ := time.Parse(time.RFC3339, b.At)
		c.Bars = append(c.Bars, chartBar{X: float64(i)*slot + (slot-w)/2, Y: chartH - chartPad - h, W: w, H: h, Fill: fill,
			Status: b.Status, Title: fmt.Sprintf("job %d, %s (%s): %s", b.JobID, at.UTC().Format("2006-01-02 15:04 UTC"), b.Status, label(b))})
	}
	return c
}

// sizeLine draws the repository's size over the days measured.
func sizeLine(points []server.RepoSize) lineChart {
	var c lineChart
	if len(points) == 0 {
		return c
	}
	var top int64
	for _, p := range points {
		top = max(top, p.TotalSize)
	}
	first, last := points[0].At, points[len(points)-1].At
	span := last.Sub(first).Seconds()
	var pts []string
	for i, p := range points {
		x := chartW / 2
		if span > 0 {
			x = chartPad + p.At.Sub(first).Seconds()/span*(chartW-2*chartPad)
		} else if len(points) > 1 {
			x = chartPad + float64(i)/float64(len(points)-1)*(chartW-2*chartPad)
		}
		y := chartH - chartPad
		if top > 0 {
			y -= float64(p.TotalSize) / float64(top) * (chartH - 2*chartPad)
		}
		pts = append(pts, num(x)+","+num(y))
		c.Dots = append(c.Dots, chartDot{X: x, Y: y, Title: fmt.Sprintf("%s: %s in %d snapshots",
			p.At.UTC().Format(time.DateOnly), humanBytes(uint64(p.TotalSize)), p.Snapshots)})
	}
	c.Points = strings.Join(pts, " ")
	c.Max = humanBytes(uint64(top))
	c.Latest = humanBytes(uint64(points[len(points)-1].TotalSize))
	return c
}

func maxOf(vals []float64) float64 {
	m := 0.0
	for _, v := range vals {
		m = max(m, v)
	}
	return m
}

// seconds is a duration in words ("3.1 s", "12 min").
func seconds(s float64) string {
	if s < 60 {
		return strconv.FormatFloat(s, 'f', 1, 64) + " s"
	}
	return time.Duration(s * float64(time.Second)).Round(time.Second).String()
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }
