// Package telamentis is the domain of TelaMentis, a multi-tenant, bitemporal
// knowledge-graph memory service for AI agents.
//
// It defines the records (Tenant, Node, Edge and their versions), the write
// inputs and their validation, the query kinds, the temporal rules (intervals,
// Allen's relations, the per-tenant transaction clock), the error type with its
// codes, and the interfaces that adapters implement: Store for graph storage
// and KeyStore for credentials. It imports only the standard library; every
// adapter imports it, and cmd wires the adapters together.
//
// Time has two axes. Valid time [ValidFrom, ValidTo) says when a fact is true
// in the world and is set by the caller. Transaction time [TxStart, TxEnd)
// says when the database believed a version and is set only by the server.
// A zero ValidTo or TxEnd means "open": still true, or still current.
package telamentis
