// Command udesk-etl-bench measures udesk-etl against its embedded simulator
// and writes the benchmark report (make bench). It is not part of the tool;
// the measuring lives in internal/benchreport.
package main

import "github.com/udesk-etl/udesk-etl/internal/benchreport"

func main() { benchreport.Main() }
