package badger

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
)

// deriveKey derives a 32-byte subkey of the master key for one purpose
// (HMAC-SHA256 as a PRF, as in HKDF-Expand with a single block).
func deriveKey(master []byte, purpose string) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte(purpose))
	m.Write([]byte{1})
	return m.Sum(nil)
}

// wrapKey seals a tenant's data key with AES-256-GCM under kek, bound to
// the tenant ID.
func wrapKey(kek, dek []byte, tenant string) ([]byte, error) {
	g, err := gcm(kek)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, g.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return g.Seal(nonce, nonce, dek, []byte("telamentis tenant "+tenant)), nil
}

func unwrapKey(kek, wrapped []byte, tenant string) ([]byte, error) {
	g, err := gcm(kek)
	if err != nil {
		return nil, err
	}
	if len(wrapped) < g.NonceSize() {
		return nil, errors.New("wrapped key too short")
	}
	dek, err := g.Open(nil, wrapped[:g.NonceSize()], wrapped[g.NonceSize():], []byte("telamentis tenant "+tenant))
	if err != nil {
		return nil, errors.New("cannot unwrap tenant data key (wrong master key?)")
	}
	return dek, nil
}

func gcm(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}
