// Package storetest is the conformance suite every telamentis.Store
// backend passes. A backend runs it in a few lines:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, storetest.Harness{
//			New:  func(t testing.TB) telamentis.Store { … fresh empty store, closed by t.Cleanup … },
//			Disk: func(t testing.TB, dir string, encrypted bool) telamentis.Store { … },
//		})
//	}
//
// Run has five parts, each a subtest named after the rule it checks, so
// `go test -run 'TestStore/retract/node_cascades'` narrows a failure down:
//
//   - semantics (tenants, nodes, edges, invalidate, retract, erase, batch,
//     queries, paging, validation, write errors, quotas, concurrency,
//     lifecycle, stats, merge, resolve): table tests for every rule of DESIGN §2 and the
//     doc comments of the root package, and telamentis.Importer when the
//     store has it. write_errors compares whole errors — code, message and
//     every field in order — for every error the write rules (package
//     graph) produce, so that stores answer bad writes identically;
//   - property: random operation sequences (pgregory.net/rapid) applied to
//     the store and to a small reference model (model.go) and compared
//     after every step at random as_at and valid-time coordinates (get by
//     id and alias, nodes, edges, paths, history and changes, all paged);
//     merges and upserts with resolve normalized are among the operations
//     (mergemodel.go models alias redirects as versions);
//     property/store runs on New's store, property/reopen, with Disk,
//     also closes and reopens the store mid-sequence. A failure prints the
//     broken rule, the shrunk operations and the seed. It runs 50 cases
//     (10 for reopen) of about 30 operations by default; -rapid.checks
//     (or RAPID_CHECKS) and -rapid.steps make it longer;
//   - isolation: two tenants with colliding aliases, labels and props,
//     shared/shared, shared/dedicated and dedicated/dedicated;
//   - erasure: with Harness.Disk, the bytes of an erased node, of its edges,
//     of a merged target's name and aliases (as written and normalised),
//     and of dropped tenants are absent from every file under the data
//     directory after Compact (when the store is a telamentis.Compactor);
//     with encryption on, no plaintext prop value is in any file. With
//     Harness.Residue the backend searches its own storage instead;
//   - check: telamentis.Checker.Check, if the store has it, after the rest.
//
// # Running it
//
//	go test ./badger -run 'TestStore$'                          # the whole suite
//	go test ./badger -run 'TestStore$/property' -rapid.checks=2000 -rapid.steps=100
//	go test ./badger -run 'TestStore$/property' -rapid.seed=N   # replay a failure
//
// A property failure prints the broken rule, the operations that broke it
// and the seed. Fail files are off by default (-rapid.nofailfile=false
// turns them on).
//
// # Readings of the contract
//
// Where DESIGN §2 and the root package's doc comments leave room, the suite
// takes the reading a careful database user expects:
//
//   - Live means current (tx_end open) and not retracted. Upsert by alias,
//     edge endpoints, invalidate, retract and erase-by-alias address live
//     records; a retracted record answers not_found to them. Erase by ID
//     also finds a retracted node.
//   - Upsert by ID without an alias keeps the node's alias; giving it the
//     alias of another live node is a conflict. For an edge, a zero
//     valid_from means "unchanged" on update and "now" on create, and a
//     zero valid_to means "still true", so an update without valid_to
//     reopens a closed fact. valid_to not after the (possibly defaulted)
//     valid_from is invalid, naming "valid_to".
//   - Created reports a new record; Changed is checked only for updates
//     (a no-op reports created=false, changed=false and writes nothing).
//   - Changing an edge's endpoints is refused with invalid or conflict;
//     nothing is written.
//   - Paths follow walks: a node is reported when some walk of k edges,
//     min_depth ≤ k ≤ depth, reaches it, with the smallest such k; a walk
//     may revisit nodes, so the start node itself is reported when a walk
//     returns to it (with direction both, A–B–A). This is also how the
//     hop2 benchmark counts "two hops away". Via is the last edge of such a
//     walk, as visible at as_at.
//   - History and paths of a record that does not exist (never, erased, or
//     not visible at as_at for a paths start) may answer not_found or an
//     empty page. Edges queries whose from/to names a missing node likewise.
//   - EraseResult.Versions counts node and edge versions together.
//   - Quotas count live records; updates never hit a quota.
//   - A tenant-level call on a missing tenant, including a second drop,
//     answers not_found.
//   - A cursor is bound to tenant, kind and every filter, but not to the
//     page size: the limit may change from page to page. A query without
//     as_at (or a changes query without until) resolves "now" on its first
//     page and its cursor carries it (query.go), so later pages continue
//     that snapshot whatever was written in between.
//   - The erasure proof requires that, with encryption off, the canary is
//     found before the erasure (a control), so compression or encoding
//     cannot make the proof pass vacuously.
//   - "Nothing written" is checked through Stats counts and the complete
//     changes feed of the tenant.
//   - Honouring ctx: a write with a canceled context fails and writes
//     nothing. After Close every method answers CodeUnavailable; a second
//     Close (New's cleanup) does not panic.
//   - Concurrent writers of one node serialise: the history is one chain
//     of versions, each closed at its successor's tx_start. A retraction
//     racing edge creation leaves no live edge on a retracted node.
//   - Import keeps transaction times; overlapping versions of one ID are
//     invalid; later writes, also after reopening, get later tx times than
//     any imported one (the clock observes stored times).
package storetest
