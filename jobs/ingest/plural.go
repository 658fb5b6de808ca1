package ingest

import "fmt"

// plural is n and the noun, with an s unless n is 1: "1 row", "2 rows".
func plural[N int | int64](n N, noun string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
