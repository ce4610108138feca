package topics

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
)

// The two restic argument syntaxes a JobSpec carries as text. Each rule is
// restic 0.18.1's own parser (cmd/restic/cmd_check.go checkFlags,
// internal/restic/duration.go ParseDuration) narrowed to plain decimal
// forms: every value accepted here restic accepts; a few odd ones restic
// also takes (" 7d", "1e1%", "NaN%", "+5M") are refused.

// MaxSubsetBuckets is restic's largest t in --read-data-subset=n/t.
const MaxSubsetBuckets = 256

var (
	subsetPartRE = regexp.MustCompile(`^([0-9]{1,3})/([0-9]{1,3})$`)
	subsetPctRE  = regexp.MustCompile(`^([0-9]{1,3}(?:\.[0-9]{1,4})?)%$`)
	subsetSizeRE = regexp.MustCompile(`^([0-9]{1,19})([bBkKmMgGtT])$`)
	withinPartRE = regexp.MustCompile(`([0-9]{1,6})([ymdh])`)
	withinRE     = regexp.MustCompile(`^(?:[0-9]{1,6}[ymdh]){1,4}$`)
)

// subsetUnits is restic's ui.ParseBytes: a unit is required here, because
// restic reads a bare number as n/t with one part and refuses it.
var subsetUnits = map[byte]int64{'b': 1, 'k': 1 << 10, 'm': 1 << 20, 'g': 1 << 30, 't': 1 << 40}

// CheckReadDataSubset checks a check job's --read-data-subset value the way
// restic does: n/t with 1 <= n <= t <= 256, a percentage above 0 and at
// most 100 (10%, 2.5%), or a size above 0 with a unit b, k, m, g or t
// (500M, 2G). The empty string means "not set" and is accepted.
func CheckReadDataSubset(s string) error {
	if s == "" || validReadDataSubset(s) {
		return nil
	}
	return fmt.Errorf("read_data_subset %q is not n/t with 1 <= n <= t <= %d (e.g. 1/5), a percentage above 0 and at most 100 (e.g. 10%%) or a size with a unit (e.g. 500M)", clip(s), MaxSubsetBuckets)
}

func validReadDataSubset(s string) bool {
	if m := subsetPartRE.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[1])
		t, _ := strconv.Atoi(m[2])
		return n >= 1 && n <= t && t <= MaxSubsetBuckets
	}
	if m := subsetPctRE.FindStringSubmatch(s); m != nil {
		p, _ := strconv.ParseFloat(m[1], 64)
		return p > 0 && p <= 100
	}
	if m := subsetSizeRE.FindStringSubmatch(s); m != nil {
		n, err := strconv.ParseInt(m[1], 10, 64)
		unit := subsetUnits[m[2][0]|0x20]
		return err == nil && n > 0 && n <= math.MaxInt64/unit
	}
	return false
}

// CheckWithin checks a --keep-within duration the way restic does: one to
// four number-unit pairs, units y, m, d and h in any order (a repeated unit
// counts its last value, as in restic), e.g. 7d, 1y2m3d4h or 7d1y. It must
// not be zero: restic refuses a policy that keeps nothing ("0d").
func CheckWithin(s string) error {
	if !withinRE.MatchString(s) {
		return fmt.Errorf("retention within %q is not a restic duration: numbers with units y, m, d or h, e.g. 7d, 12h or 1y2m3d4h", clip(s))
	}
	last := map[string]string{}
	for _, m := range withinPartRE.FindAllStringSubmatch(s, -1) {
		last[m[2]] = m[1]
	}
	for _, n := range last {
		if v, _ := strconv.Atoi(n); v > 0 {
			return nil
		}
	}
	return fmt.Errorf("retention within %q is zero: restic keeps nothing with it; give a duration such as 7d", clip(s))
}
