package topics

import "testing"

func TestCheckTransition(t *testing.T) {
	all := []JobState{JobQueued, JobDelivered, JobRunning, JobSucceeded, JobWarning, JobFailed, JobCanceled, JobExpired, JobInterrupted}
	allowed := map[[2]JobState]bool{
		{JobQueued, JobDelivered}: true, {JobQueued, JobRunning}: true, {JobQueued, JobCanceled}: true,
		{JobQueued, JobExpired}: true, {JobQueued, JobFailed}: true,
		{JobDelivered, JobRunning}: true, {JobDelivered, JobCanceled}: true, {JobDelivered, JobExpired}: true,
		{JobDelivered, JobFailed}: true, {JobDelivered, JobInterrupted}: true,
		{JobRunning, JobSucceeded}: true, {JobRunning, JobWarning}: true, {JobRunning, JobFailed}: true,
		{JobRunning, JobCanceled}: true, {JobRunning, JobInterrupted}: true,
	}
	for _, from := range all {
		for _, to := range all {
			err := CheckTransition(from, to)
			if want := allowed[[2]JobState{from, to}]; (err == nil) != want {
				t.Errorf("%s → %s: err = %v, want allowed = %v", from, to, err, want)
			}
		}
	}
	// Terminal states never change; unknown states are refused.
	for _, s := range all {
		if s.Terminal() && CheckTransition(s, JobRunning) == nil {
			t.Errorf("terminal %s changed", s)
		}
	}
	if CheckTransition("bogus", JobRunning) == nil || CheckTransition(JobQueued, "") == nil {
		t.Error("unknown state accepted")
	}
}
