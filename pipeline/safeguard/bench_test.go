package safeguard_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/telamentis/telamentis/pipeline/safeguard"
)

// corpus returns about size bytes of prose with a PII value every ~2 KB.
func corpus(size int) string {
	prose := "On Tuesday the platform team met with Acme Corporation to review the migration plan. " +
		"Alice Johnson agreed to own the rollout in 2024 and Bob will follow up on the 3 open tickets. " +
		"The meeting notes mention version 1.2.3 of the client, a budget of 45000 dollars and the Q3 goals. "
	pii := []string{"alice@acme.com", "+44 20 7946 0958", "4111 1111 1111 1111", "DE89 3704 0044 0532 0130 00",
		"123-45-6789", "192.168.10.4", "sk-proj-abcDEF1234567890abcdef1234"}
	var b strings.Builder
	for i := 0; b.Len() < size; i++ {
		for j := 0; j < 7; j++ {
			b.WriteString(prose)
		}
		b.WriteString(" contact ")
		b.WriteString(pii[i%len(pii)])
		b.WriteString(". ")
	}
	return b.String()
}

func BenchmarkScan(b *testing.B) {
	for _, size := range []int{4 << 10, 1 << 20} {
		text := corpus(size)
		b.Run(sizeName(size), func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			for b.Loop() {
				safeguard.Scan(text)
			}
		})
	}
}

func BenchmarkRedact(b *testing.B) {
	text := corpus(1 << 20)
	g := safeguard.New()
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.Redact(b.Context(), "redact", []string{text}); err != nil {
			b.Fatal(err)
		}
	}
}

func sizeName(n int) string {
	if n >= 1<<20 {
		return strconv.Itoa(n>>20) + "MiB"
	}
	return strconv.Itoa(n>>10) + "KiB"
}
