//go:build !linux

package main

// gcMemoryLimit is unknown here (0): the headroom stays gcHeadroomBytes.
func gcMemoryLimit() uint64 { return 0 }
