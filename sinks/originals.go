package sinks

import "path/filepath"

// CSVOriginalsPath is where an export keeps the original rows of a CSV
// output: in the .udesk-etl folder beside it (where the export's state
// folder is), named after the file, so that an import of that CSV finds them
// from its path alone. The catalog snapshot sits beside them (CSVCatalogPath).
func CSVOriginalsPath(csvPath string) string {
	return filepath.Join(filepath.Dir(csvPath), ".udesk-etl", filepath.Base(csvPath)+".originals.csv")
}

// CSVCatalogPath is where the catalog snapshot of a CSV's originals is kept.
func CSVCatalogPath(csvPath string) string {
	return filepath.Join(filepath.Dir(csvPath), ".udesk-etl", filepath.Base(csvPath)+".originals.catalog.json")
}
