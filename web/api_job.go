package web

import (
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/topics"
)

// The JSON API answers with server.Job and server.RepositoryStatus as they
// are (docs/DECISIONS.md, "One shape per resource").

// jobID is the :id of a job route: the job's number.
func jobID(c *gin.Context) (int64, bool) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	return id, err == nil && id > 0
}

// apiProgress is a running job's latest progress in the JSON API.
type apiProgress struct {
	At             time.Time `json:"at"`
	Percent        float64   `json:"percent"`
	FilesDone      uint64    `json:"files_done"`
	FilesTotal     uint64    `json:"files_total"`
	BytesDone      uint64    `json:"bytes_done"`
	BytesTotal     uint64    `json:"bytes_total"`
	ETASeconds     int64     `json:"eta_seconds"` // -1: unknown
	ElapsedSeconds int64     `json:"elapsed_seconds"`
	CurrentFile    string    `json:"current_file,omitempty"`
	ErrorCount     uint64    `json:"error_count"`
}

func newAPIProgress(p *topics.JobProgress) apiProgress {
	return apiProgress{
		At: p.TS.UTC(), Percent: p.Percent, FilesDone: p.FilesDone, FilesTotal: p.FilesTotal,
		BytesDone: p.BytesDone, BytesTotal: p.BytesTotal, ETASeconds: p.ETASeconds,
		ElapsedSeconds: p.ElapsedSeconds, CurrentFile: p.CurrentFile, ErrorCount: p.ErrorCount,
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
