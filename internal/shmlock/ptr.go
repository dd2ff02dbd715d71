package shmlock

import "unsafe"

// At views the first 8 bytes of b, which must be 4-byte aligned, as a
// Mutex; zero bytes are an unlocked Mutex. b is meant to be shared
// memory (guard.MapShared) that outlives every use of the Mutex.
//
// The only pointer conversion of the package: a Mutex is two uint32s, no
// Go pointers, so viewing mapped bytes as one hides nothing from the GC.
// ok: len(b) >= 8 and the address is 4-aligned, checked first.
func At(b []byte) (*Mutex, error) {
	switch {
	case len(b) < int(unsafe.Sizeof(Mutex{})):
		return nil, errTooShort
	case uintptr(unsafe.Pointer(unsafe.SliceData(b)))%4 != 0:
		return nil, errAlign
	}
	return (*Mutex)(unsafe.Pointer(unsafe.SliceData(b))), nil
}

// wordAddr is the lock word's address, for the futex system calls.
func wordAddr(m *Mutex) uintptr { return uintptr(unsafe.Pointer(&m.word)) }
