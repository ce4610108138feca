package web

import (
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// ttlChoice is one entry of the "valid for" menu on the enroll page.
type ttlChoice struct {
	Value string // a Go duration, as posted
	Label string
}

// ttlChoices are the lifetimes the enroll page offers; the API accepts any
// duration from 1 minute to 7 days.
var ttlChoices = []ttlChoice{
	{"15m", "15 minutes"},
	{"1h", "1 hour"},
	{"24h", "24 hours"},
	{"168h", "7 days"},
}

const defaultTTLChoice = "1h"

// enrollmentForm is the "create an enrollment token" form.
type enrollmentForm struct {
	HostName string
	TTL      string // one of ttlChoices
}

func newEnrollmentForm(c *gin.Context) enrollmentForm {
	return enrollmentForm{HostName: strings.TrimSpace(c.PostForm("host_name")), TTL: c.PostForm("ttl")}
}

// validate returns one sentence about what to fix, or "". The domain checks
// the name's characters; this catches what the form itself gets wrong.
func (f enrollmentForm) validate() string {
	if f.HostName == "" {
		return "Enter a name for the host, e.g. web-01."
	}
	if _, ok := f.duration(); !ok {
		return "Pick how long the token stays valid."
	}
	return ""
}

// duration is the chosen lifetime; only the offered choices are accepted.
func (f enrollmentForm) duration() (time.Duration, bool) {
	for _, ch := range ttlChoices {
		if ch.Value == f.TTL {
			d, err := time.ParseDuration(ch.Value)
			return d, err == nil
		}
	}
	return 0, false
}
