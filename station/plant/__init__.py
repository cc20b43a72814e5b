"""The plant side (docs/architecture.md section 7a): the collector that keeps a verified
replica of every station's journal, and what is read from it.

- `incoming`: one MQTT message of a journal stream checked into an `Event` (or refused).
- `chain`: the link check of the hash chain, on `station.journal.Event` itself.
- `store`: the one store interface (`Store`, `open_store(url)`) over SQLite (`sqlite`,
  the default, a file in WAL mode) and PostgreSQL (`postgres`, psycopg 3); the schema is
  versioned in `migrations` and brought up to date when a store is opened.
- `collector`: `station plant`: subscribes, stores each event once, verifies each
  station's chain as it stores, acknowledges after the commit.
- `passport`: a vehicle's visits across every station, from the replica.

Nothing here imports the station runtime: the plant only reads what stations publish.
"""
