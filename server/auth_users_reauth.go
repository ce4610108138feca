package server

import "errors"

// reauthenticate checks the actor's current password before a change to
// their own account (a new password, turning TOTP off). It is a sign-in
// attempt like any other: counted by the sign-in limits per address and
// per (address, name) before the hash, so a stolen session cannot guess the
// password at the speed of the hash; a server too busy to check says
// "retry" and costs nothing.
func (s *Service) reauthenticate(a Actor, u *User, password, wrong string) error {
	attempt, err := s.logins.begin(a.RemoteAddr, u.Name)
	if err != nil {
		return err
	}
	ok, err := verifyPassword(password, u.PasswordHash)
	if errors.Is(err, errHashBusy) {
		attempt.refund()
		return &Error{Code: CodeUnavailable, RetryAfter: hashWait, Err: err,
			Message: "The server is busy checking other passwords; try again in a few seconds."}
	}
	if err != nil {
		attempt.refund()
		return internal("Could not check the password", err)
	}
	if !ok {
		attempt.failed()
		return &Error{Code: CodeForbidden, Message: wrong}
	}
	attempt.succeeded()
	return nil
}
