package server

// Exports for the black-box tests in package server_test.

// HashSlots is how many password hashes may run at once.
var HashSlots = cap(hashSlots)

// PasswordHashesPeak is the most password hashes that ran at once since
// ResetPasswordHashesPeak.
func PasswordHashesPeak() int64 { return hashesPeak.Load() }

// ResetPasswordHashesPeak starts a new high-water mark from what runs now.
func ResetPasswordHashesPeak() { hashesPeak.Store(hashesRunning.Load()) }
