//go:build !unix

package netlimit

func descriptorLimit() int { return 0 }
