package badger

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// Environment variables that carry the master key.
const (
	// MasterKeyEnv holds the key itself: 64 hex digits or base64 of 32 bytes.
	MasterKeyEnv = "TELAMENTIS_MASTER_KEY"
	// MasterKeyFileEnv names a file holding the key in the same encodings.
	MasterKeyFileEnv = "TELAMENTIS_MASTER_KEY_FILE"
)

// ParseMasterKey decodes a master key written as 64 hex digits or as
// (standard or URL-safe, padded or not) base64 of 32 bytes.
func ParseMasterKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 64 {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == 32 {
			return k, nil
		}
	}
	return nil, errors.New("badger: master key must be 32 bytes as 64 hex digits or base64")
}

// ReadMasterKeyFile reads a master key file. The file must not be readable
// by group or others.
func ReadMasterKeyFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("badger: master key file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("badger: master key file %s: permissions %v allow group or others; chmod 600", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("badger: master key file: %w", err)
	}
	k, err := ParseMasterKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("badger: master key file %s: %w", path, err)
	}
	return k, nil
}

// CreateDevKeyFile writes a new random master key to path (mode 0600,
// failing if the file exists) and returns it.
func CreateDevKeyFile(path string) ([]byte, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("badger: dev key file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("badger: dev key file: %w", err)
	}
	_, err = f.WriteString(hex.EncodeToString(k) + "\n")
	if err2 := f.Sync(); err == nil {
		err = err2
	}
	if err2 := f.Close(); err == nil {
		err = err2
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("badger: dev key file: %w", err)
	}
	return k, nil
}

// LoadMasterKey finds the master key: the MasterKeyEnv variable, else the
// file named by MasterKeyFileEnv, else devFile if it exists, else a new dev
// key created in devFile with a loud warning (a production deployment
// passes its own key). getenv is os.Getenv outside tests. It returns the
// key and a description of its source (never the key).
func LoadMasterKey(getenv func(string) string, devFile string, logger *slog.Logger) ([]byte, string, error) {
	if v := getenv(MasterKeyEnv); v != "" {
		k, err := ParseMasterKey(v)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", MasterKeyEnv, err)
		}
		return k, "env " + MasterKeyEnv, nil
	}
	if p := getenv(MasterKeyFileEnv); p != "" {
		k, err := ReadMasterKeyFile(p)
		return k, "file " + p, err
	}
	if devFile == "" {
		return nil, "", errors.New("badger: no master key configured")
	}
	if _, err := os.Stat(devFile); err == nil {
		k, err := ReadMasterKeyFile(devFile)
		if err == nil && logger != nil {
			logger.Warn("using the development master key file; set "+MasterKeyEnv+" or "+MasterKeyFileEnv+" in production", "path", devFile)
		}
		return k, "dev file " + devFile, err
	}
	k, err := CreateDevKeyFile(devFile)
	if err != nil {
		return nil, "", err
	}
	if logger != nil {
		logger.Warn("!!! NO MASTER KEY CONFIGURED: created a development master key file; data is encrypted with a key stored next to it. Set "+MasterKeyEnv+" or "+MasterKeyFileEnv+" for production !!!", "path", devFile)
	}
	return k, "new dev file " + devFile, nil
}
