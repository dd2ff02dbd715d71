//go:build arenadebug

package arena

const invariantsEnabled = true
