package web

import (
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// channelForm is the "add a notification channel" form.
type channelForm struct {
	Name     string
	Kind     string
	URL      string
	Secret   string
	Events   []string
	Tags     string
	Throttle string
	Digest   string
}

func newChannelForm(c *gin.Context) channelForm {
	return channelForm{
		Name: strings.TrimSpace(c.PostForm("name")), Kind: c.PostForm("kind"), URL: strings.TrimSpace(c.PostForm("url")),
		Secret: c.PostForm("secret"), Events: c.PostFormArray("events"), Tags: c.PostForm("tags"),
		Throttle: strings.TrimSpace(c.PostForm("throttle_minutes")), Digest: strings.TrimSpace(c.PostForm("digest_hour")),
	}
}

// channel turns the form into the domain's channel, or says what to fix.
// The domain checks every rule again.
func (f channelForm) channel() (server.NotificationChannel, string) {
	ch := server.NotificationChannel{Name: f.Name, Kind: f.Kind, URL: f.URL, Events: f.Events, Enabled: true,
		Tags: strings.FieldsFunc(f.Tags, func(r rune) bool { return r == ',' || r == ' ' })}
	if f.Secret != "" {
		ch.Secret = &f.Secret
	}
	if f.Throttle != "" {
		n, err := strconv.Atoi(f.Throttle)
		if err != nil {
			return ch, "Throttle is a number of minutes (0 for none)."
		}
		ch.ThrottleMinutes = n
	}
	if f.Digest != "" {
		n, err := strconv.Atoi(f.Digest)
		if err != nil {
			return ch, "The digest hour is a number 0-23 (UTC), or empty for immediate messages."
		}
		ch.DigestHour = &n
	}
	return ch, ""
}

// Has reports whether the form ticked event e (the page re-ticks them after a refusal).
func (f channelForm) Has(e string) bool {
	return slices.Contains(f.Events, e)
}
