using Npgsql;

namespace MailServer.Storage.PostgreSql;

/// <summary>
/// The PostgreSQL schema, as numbered migrations applied at start in one transaction each, under an advisory lock so
/// that nodes starting together migrate once. A database whose schema is newer than this build knows is refused
/// (<see cref="StoreSchemaTooNewException"/>): an older node must never write into a layout it does not understand.
/// In clear: ids, UIDs, UIDVALIDITY, MODSEQ, flags, keywords, sizes, dates and wrapped keys (as in the LiteDB engine).
/// Owners, folder names, subscriptions, header summaries and bodies are sealed; owners and folder names are found by
/// keyed HMAC (<c>owner_lookup</c>, <c>name_lookup</c>).
/// </summary>
internal static class PostgreSqlSchema
{
    /// <summary>The advisory lock key migrations run under ("mailsrv" in ASCII).</summary>
    private const long MigrationLock = 0x6d61696c737276;

    /// <summary>The channel committed changes are announced on (LISTEN/NOTIFY).</summary>
    public const string ChangeChannel = "mailserver_changes";

    /// <summary>The migrations, in order; migration N brings the schema to version N. Never edit one that shipped: add the next.</summary>
    public static IReadOnlyList<string> Migrations { get; } =
    [
        // 1: mailboxes, folders, entries, bodies, tombstones.
        """
        CREATE TABLE mailserver_meta (
            id int PRIMARY KEY CHECK (id = 1),
            schema_version int NOT NULL,
            last_uid_validity bigint NOT NULL);
        INSERT INTO mailserver_meta VALUES (1, 0, 0);
        CREATE TABLE mailboxes (
            id text PRIMARY KEY,
            org text NOT NULL,
            owner_lookup text NOT NULL UNIQUE,
            owner_sealed bytea NOT NULL,
            wrapped_key bytea NOT NULL,
            key_version int NOT NULL,
            key_generation int NOT NULL DEFAULT 0,
            used_bytes bigint NOT NULL DEFAULT 0,
            message_count bigint NOT NULL DEFAULT 0,
            modseq bigint NOT NULL,
            subscriptions_sealed bytea);
        CREATE INDEX mailboxes_org ON mailboxes (org);
        CREATE TABLE folders (
            id text PRIMARY KEY,
            mailbox_id text NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
            name_lookup text NOT NULL UNIQUE,
            name_sealed bytea NOT NULL,
            special_use int NOT NULL,
            uid_validity bigint NOT NULL,
            uid_next bigint NOT NULL,
            highest_modseq bigint NOT NULL,
            message_count int NOT NULL,
            unseen_count int NOT NULL,
            subscribed boolean NOT NULL,
            recent_mark bigint NOT NULL DEFAULT 0);
        CREATE INDEX folders_mailbox ON folders (mailbox_id);
        CREATE TABLE blobs (
            id text PRIMARY KEY,
            org text NOT NULL,
            header bytea NOT NULL,
            length bigint NOT NULL,
            sealed_length bigint NOT NULL,
            segments int NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now());
        CREATE TABLE blob_segments (
            blob_id text NOT NULL REFERENCES blobs (id) ON DELETE CASCADE,
            idx int NOT NULL,
            data bytea NOT NULL,
            PRIMARY KEY (blob_id, idx));
        ALTER TABLE blob_segments ALTER COLUMN data SET STORAGE EXTERNAL;
        CREATE TABLE entries (
            id text PRIMARY KEY,
            folder_id text NOT NULL REFERENCES folders (id) ON DELETE CASCADE,
            mailbox_id text NOT NULL,
            uid bigint NOT NULL,
            modseq bigint NOT NULL,
            flags int NOT NULL,
            keywords text[] NOT NULL,
            internal_date_ticks bigint NOT NULL,
            internal_date_offset int NOT NULL,
            size bigint NOT NULL,
            last_action_ticks bigint NOT NULL,
            saved_ticks bigint NOT NULL,
            blob_id text NOT NULL REFERENCES blobs (id),
            wrapped_key bytea NOT NULL,
            key_generation int NOT NULL DEFAULT 0,
            summary bytea NOT NULL,
            UNIQUE (folder_id, uid));
        CREATE INDEX entries_blob ON entries (blob_id);
        CREATE TABLE tombstones (
            folder_id text NOT NULL,
            modseq bigint NOT NULL,
            uids bigint[] NOT NULL);
        CREATE INDEX tombstones_folder ON tombstones (folder_id, modseq);
        """,
        // 2: the outbound queue, daily sending counters, held messages and in-transit copies; IMAP METADATA (a sealed map per mailbox). Queue and held rows carry
        // a lease (owner, expiry in UTC ticks) taken with FOR UPDATE SKIP LOCKED; their bodies are rows of blobs.
        """
        CREATE TABLE queue (
            id text PRIMARY KEY,
            org text NOT NULL,
            blob_id text NOT NULL REFERENCES blobs (id),
            wrapped_key bytea NOT NULL,
            envelope_sealed bytea NOT NULL,
            size bigint NOT NULL,
            created_ticks bigint NOT NULL,
            next_attempt_ticks bigint NOT NULL,
            pending int NOT NULL,
            version bigint NOT NULL DEFAULT 0,
            lease_owner text,
            lease_expires_ticks bigint NOT NULL DEFAULT 0);
        CREATE INDEX queue_due ON queue (next_attempt_ticks);
        CREATE TABLE send_counts (
            id text PRIMARY KEY,
            count bigint NOT NULL);
        CREATE TABLE held (
            id text PRIMARY KEY,
            org text NOT NULL,
            blob_id text NOT NULL REFERENCES blobs (id),
            wrapped_key bytea NOT NULL,
            key_version int NOT NULL,
            details_sealed bytea NOT NULL,
            held_since_ticks bigint NOT NULL,
            next_attempt_ticks bigint NOT NULL,
            attempts int NOT NULL,
            lease_owner text,
            lease_expires_ticks bigint NOT NULL DEFAULT 0);
        CREATE INDEX held_due ON held (next_attempt_ticks);
        CREATE TABLE message_flow (
            id text PRIMARY KEY,
            org text NOT NULL,
            context int NOT NULL,
            stored_at_ticks bigint NOT NULL,
            blob_id text NOT NULL REFERENCES blobs (id),
            wrapped_key bytea NOT NULL,
            key_version int NOT NULL,
            updatable boolean NOT NULL);
        CREATE INDEX message_flow_stored ON message_flow (stored_at_ticks);
        ALTER TABLE mailboxes ADD COLUMN metadata_sealed bytea;
        """,
        // 3: the body search index: per folder the cursor, format and key generation in clear, and its segments sealed
        // under the mailbox's search index key, each written in the transaction that names it; a folder's deletion takes both.
        // The mailbox import ledger: one keyed HMAC per (mailbox, folder, message) imported, nothing else.
        """
        CREATE TABLE search_index (
            folder_id text PRIMARY KEY REFERENCES folders (id) ON DELETE CASCADE,
            mailbox_id text NOT NULL,
            key_generation int NOT NULL,
            format int NOT NULL,
            indexed_through bigint NOT NULL,
            unindexed bigint[] NOT NULL,
            version bigint NOT NULL);
        CREATE TABLE search_segments (
            folder_id text NOT NULL REFERENCES search_index (folder_id) ON DELETE CASCADE,
            id text NOT NULL,
            first_uid bigint NOT NULL,
            last_uid bigint NOT NULL,
            documents int NOT NULL,
            bytes bigint NOT NULL,
            sealed bytea NOT NULL,
            PRIMARY KEY (folder_id, id));
        ALTER TABLE search_segments ALTER COLUMN sealed SET STORAGE EXTERNAL;
        CREATE TABLE imports (
            id text PRIMARY KEY,
            mailbox_id text NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE);
        """,
        // 4: mailbox key rotation (keys rotate --mailbox). While a rotation runs, the mailbox row keeps the replaced key's wrap
        // beside the new one, so entries not yet re-wrapped stay readable; the columns are cleared when it ends.
        """
        ALTER TABLE mailboxes
            ADD COLUMN previous_wrapped_key bytea,
            ADD COLUMN previous_key_version int,
            ADD COLUMN previous_key_generation int;
        CREATE INDEX entries_mailbox_generation ON entries (mailbox_id, key_generation);
        """,
    ];

    /// <summary>The schema version this build writes.</summary>
    public static int Version => Migrations.Count;

    /// <summary>
    /// Brings the database to <see cref="Version"/>, each migration in its own transaction with the version bump, under
    /// a transaction-scoped advisory lock. Returns the version found before.
    /// </summary>
    /// <exception cref="StoreSchemaTooNewException">The database has a newer schema than this build.</exception>
    public static async Task<int> MigrateAsync(NpgsqlDataSource data, CancellationToken cancellationToken)
    {
        var found = -1;
        while (true)
        {
            await using var connection = await data.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using (var lockCommand = new NpgsqlCommand("SELECT pg_advisory_xact_lock(@k)", connection, transaction))
            {
                lockCommand.Parameters.AddWithValue("k", MigrationLock);
                await lockCommand.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
            var current = 0;
            bool exists;
            await using (var existsCommand = new NpgsqlCommand("SELECT to_regclass('mailserver_meta') IS NOT NULL", connection, transaction))
                exists = (bool)(await existsCommand.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
            if (exists)
            {
                await using var versionCommand = new NpgsqlCommand("SELECT schema_version FROM mailserver_meta WHERE id = 1", connection, transaction);
                current = (int)(await versionCommand.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
            }
            if (found < 0)
                found = current;
            if (current > Version)
                throw new StoreSchemaTooNewException(current, Version);
            if (current == Version)
                return found;
            await using (var migrate = new NpgsqlCommand(Migrations[current], connection, transaction))
                await migrate.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            await using (var bump = new NpgsqlCommand("UPDATE mailserver_meta SET schema_version = @v WHERE id = 1", connection, transaction))
            {
                bump.Parameters.AddWithValue("v", current + 1);
                await bump.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
    }
}

/// <summary>The database was written by a newer version of the server; this one refuses to run against it.</summary>
public sealed class StoreSchemaTooNewException(int found, int supported)
    : InvalidOperationException($"The PostgreSQL store has schema version {found}; this server knows versions up to {supported}. Upgrade the server (every node) before starting it against this database.")
{
    /// <summary>The version in the database.</summary>
    public int Found { get; } = found;

    /// <summary>The newest version this build knows.</summary>
    public int Supported { get; } = supported;
}
