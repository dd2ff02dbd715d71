//go:build arenadebug

package list

const invariantsEnabled = true
