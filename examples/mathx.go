// Package mathx holds small integer helpers; the stubs are filled by `dgemma-lsp fill examples/`.
package mathx

// Max returns the larger of a and b.
func Max(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// Min returns the smaller of a and b.
func Min(a, b int) int {
	panic("TODO")
}

// Abs returns the absolute value of x.
func Abs(x int) int {}
