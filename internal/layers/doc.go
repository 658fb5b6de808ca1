// Package layers holds the test that keeps the project's floors in order:
// the face (cmd) on top, then the jobs, the dataset and the listing, the
// formats (sinks, sources), mapping, and on the ground floor the contracts
// (pipeline) and the API client (udesk). A package imports only from the
// floors below its own; the floors are written once, in layers_test.go.
package layers
