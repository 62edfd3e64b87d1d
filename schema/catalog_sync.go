package schema

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/faultline/faultline/catalog"
)

// SyncCatalog writes every entry of cat into database.catalog (with its source, the catalog
// version and updated_at = now) in one native batch, so SQL readers and Grafana can join
// remediation onto events. The ingester calls it at start.
//
// The write is skipped when the table, read with FINAL, already holds every entry of cat at
// this catalog version: restarts with an unchanged catalog add no rows. Rolling back to an
// older catalog writes it again (its rows are older than the newer version's, so only a fresh
// write with a later updated_at makes it current).
func SyncCatalog(ctx context.Context, conn driver.Conn, database string, cat *catalog.Catalog) error {
	if err := ValidateDatabase(database); err != nil {
		return err
	}
	entries := cat.Entries()
	version := cat.Version()
	if len(entries) == 0 {
		return fmt.Errorf("sync catalog %s into %s.catalog: catalog has no entries", version, database)
	}

	var current uint64
	row := conn.QueryRow(ctx, Render("SELECT countIf(catalog_version = ?) FROM ${db}.catalog FINAL", database), version)
	if err := row.Scan(&current); err != nil {
		return fmt.Errorf("sync catalog %s: read %s.catalog: %w", version, database, err)
	}
	if current == uint64(len(entries)) {
		return nil
	}

	batch, err := conn.PrepareBatch(ctx, Render(`INSERT INTO ${db}.catalog (error_type, status_code, category, actor,
    description, error_message, error_url, remediation, common_causes, troubleshooting,
    source, catalog_version, updated_at)`, database))
	if err != nil {
		return fmt.Errorf("sync catalog %s: prepare insert into %s.catalog: %w", version, database, err)
	}
	defer batch.Abort() //nolint:errcheck // no-op once sent; releases the connection on early return
	now := time.Now().UTC().Truncate(time.Second)
	for _, e := range entries {
		if e.StatusCode < 0 || e.StatusCode > 65535 {
			return fmt.Errorf("sync catalog %s: entry %s: status code %d out of range", version, e.ErrorType, e.StatusCode)
		}
		if err := batch.Append(e.ErrorType, uint16(e.StatusCode), e.Category, e.Actor,
			e.Description, e.ErrorMessage, e.ErrorURL, e.Remediation,
			nonNil(e.CommonCauses), nonNil(e.Troubleshooting),
			e.Source, version, now); err != nil {
			return fmt.Errorf("sync catalog %s: append entry %s: %w", version, e.ErrorType, err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("sync catalog %s: insert %d entries into %s.catalog: %w", version, len(entries), database, err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
