using LiteDB;

namespace MailServer.Storage;

/// <summary>
/// Every collection, field and index of the database in one place. In clear: ids, UIDs, UIDVALIDITY, MODSEQ,
/// flags, sizes, dates and wrapped keys. Folder names, owners and header summaries are sealed (docs/decisions.md, "Storage and encryption").
/// </summary>
internal static class Schema
{
    public const int Version = 1;

    public const string Meta = "meta";
    public const string Mailboxes = "mailboxes";
    public const string Folders = "folders";
    public const string Entries = "entries";
    /// <summary>The outbound queue: one document per queued message (MailStore.Queue.cs).</summary>
    public const string Queue = "queue";
    /// <summary>Per-user daily counts of external recipients (Limits.ExternalRecipientsPerUserPerDay).</summary>
    public const string SendCounts = "sendCounts";
    /// <summary>Expunged UIDs with their MODSEQ, for QRESYNC's VANISHED (EARLIER) (RFC 7162 §3.2.5).</summary>
    public const string Tombstones = "tombstones";
    /// <summary>Messages held while a synchronous hook decides (MailStore.Held.cs).</summary>
    public const string Held = "held";
    /// <summary>
    /// Messages a mailbox import stored (MailStore.Import.cs): _id "mailboxId|HMAC(target folder, SHA-256 of the
    /// message)", written in the transaction that links the entry, so an import run twice stores nothing twice.
    /// </summary>
    public const string Imports = "imports";
    /// <summary>
    /// Per folder, its encrypted search index (MailStore.SearchIndex.cs): _id = folder id; the segment list, cursor and
    /// key generation. The segments themselves are sealed files under <c>search/</c>, never in the database.
    /// </summary>
    public const string SearchIndex = "searchIndex";

    /// <summary>
    /// The master key version a document's wrapped key is under (mailboxes, held, in-transit messages); absent:
    /// version 1, and for a mailbox the scheme from before key ledgers (wrapped directly under the master key).
    /// </summary>
    public const string KeyVersionField = "kv";

    /// <summary>The single document of <see cref="Meta"/>.</summary>
    public const string MetaId = "store";

    public static class MetaFields
    {
        public const string SchemaVersion = "schemaVersion";
        public const string LastUidValidity = "lastUidValidity";
    }

    public static class MailboxFields
    {
        public const string Organization = "org";
        /// <summary>"org|HMAC(owner)", unique: the owner lookup without the owner in clear.</summary>
        public const string OwnerLookup = "ownerLookup";
        public const string OwnerSealed = "ownerSealed";
        public const string WrappedKey = "wrappedKey";
        /// <summary>See <see cref="KeyVersionField"/>: with it, the key is wrapped under that version and the mailbox's ledger secret.</summary>
        public const string KeyVersion = KeyVersionField;
        public const string UsedBytes = "usedBytes";
        public const string MessageCount = "messageCount";
        public const string ModSeq = "modSeq";
        /// <summary>Subscribed names that are not folders, a sealed JSON array (absent when none).</summary>
        public const string SubscriptionsSealed = "subscriptionsSealed";
        /// <summary>IMAP annotations (RFC 5464), sealed under the mailbox key (MailStore.Metadata.cs).</summary>
        public const string MetadataSealed = "metadataSealed";
        /// <summary>The generation of the mailbox key (absent: 0); <c>keys rotate --mailbox</c> adds one. Its ledger secret is
        /// <see cref="Crypto.KeyLedger.SecretId"/> of the mailbox and the generation.</summary>
        public const string KeyGeneration = "kg";
        /// <summary>While a mailbox key rotation runs: the previous mailbox key's wrap, its master key version (null: the
        /// scheme from before ledgers) and its generation. Entries not re-wrapped yet still need it.</summary>
        public const string PreviousWrappedKey = "prevWrappedKey";
        public const string PreviousKeyVersion = "prevKv";
        public const string PreviousKeyGeneration = "prevKg";
        /// <summary>While a mailbox key rotation runs: true when a COPY or MOVE created entries under the previous key
        /// since the rotation last scanned the mailbox (the rotation scans again before it ends).</summary>
        public const string KeyRotationDirty = "kgDirty";
    }

    public static class FolderFields
    {
        public const string MailboxId = "mailboxId";
        /// <summary>"mailboxId|HMAC(normalised name)", unique.</summary>
        public const string NameLookup = "nameLookup";
        public const string NameSealed = "nameSealed";
        public const string SpecialUse = "specialUse";
        public const string UidValidity = "uidValidity";
        public const string UidNext = "uidNext";
        public const string HighestModSeq = "highestModSeq";
        public const string MessageCount = "messageCount";
        public const string UnseenCount = "unseenCount";
        public const string Subscribed = "subscribed";
        /// <summary>The highest UID an IMAP session took as \Recent (RFC 3501 §2.3.2); absent on folders from before it was kept.</summary>
        public const string RecentMark = "recentMark";
    }

    public static class EntryFields
    {
        public const string FolderId = "folderId";
        public const string MailboxId = "mailboxId";
        /// <summary>"folderId:uid" with the UID zero-padded to 10 digits: unique, and ordered by UID.</summary>
        public const string FolderUid = "folderUid";
        public const string Uid = "uid";
        public const string ModSeq = "modSeq";
        public const string Flags = "flags";
        public const string Keywords = "keywords";
        public const string InternalDateTicks = "internalDate";
        public const string InternalDateOffsetMinutes = "internalDateOffset";
        public const string Size = "size";
        public const string LastActionTicks = "lastActionAt";
        /// <summary>When the message was saved into this folder (delivery, APPEND, COPY, MOVE; IMAP SAVEDATE, RFC 8514);
        /// absent on entries written before it was kept.</summary>
        public const string SavedTicks = "savedAt";
        public const string BlobId = "blobId";
        public const string WrappedKey = "wrappedKey";
        /// <summary>The header section, sealed under the message key (for ENVELOPE, header FETCH, SEARCH).</summary>
        public const string SummarySealed = "summary";
        /// <summary>The generation of the mailbox key <see cref="WrappedKey"/> is wrapped under (absent: 0).</summary>
        public const string KeyGeneration = "kg";
    }

    public static class QueueFields
    {
        public const string Organization = "org";
        public const string BlobId = "blobId";
        /// <summary>The message key, sealed under the organization's queue key.</summary>
        public const string WrappedKey = "wrappedKey";
        /// <summary>The envelope and per-recipient states (JSON), sealed under the message key.</summary>
        public const string EnvelopeSealed = "envelope";
        public const string Size = "size";
        public const string CreatedTicks = "createdAt";
        /// <summary>The earliest next attempt of a pending recipient (long.MaxValue when none).</summary>
        public const string NextAttemptTicks = "nextAttempt";
        public const string Pending = "pending";
        /// <summary>How many times the recipients' states were written (an expected version for updates).</summary>
        public const string Version = "ver";
    }

    public static class HeldFields
    {
        public const string Organization = "org";
        public const string BlobId = "blobId";
        /// <summary>The message key, wrapped under the organization's master key.</summary>
        public const string WrappedKey = "wrappedKey";
        /// <summary>Direction, rule, invocation id, recipients, deadline, last error and the caller's envelope (JSON), sealed under the message key.</summary>
        public const string DetailsSealed = "details";
        public const string HeldSinceTicks = "heldSince";
        public const string NextAttemptTicks = "nextAttempt";
        public const string Attempts = "attempts";
    }

    public static class ImportFields
    {
        public const string MailboxId = "mailboxId";
        public const string EntryId = "entryId";
        public const string ImportedTicks = "importedAt";
    }

    public static class SearchIndexFields
    {
        public const string MailboxId = "mailboxId";
        /// <summary>The mailbox key generation the segments are sealed under.</summary>
        public const string KeyGeneration = "kg";
        /// <summary>The indexer's segment format (a new format rebuilds).</summary>
        public const string Format = "format";
        /// <summary>Every message with a UID up to this one is indexed (except <see cref="Unindexed"/>).</summary>
        public const string IndexedThrough = "through";
        /// <summary>Array of { id, first, last, docs, bytes }, by first UID.</summary>
        public const string Segments = "segments";
        /// <summary>UIDs at or below <see cref="IndexedThrough"/> the indexer could not read (searched by decrypting).</summary>
        public const string Unindexed = "unindexed";
        /// <summary>Incremented by every commit (optimistic concurrency).</summary>
        public const string Version = "version";
    }

    public static class SendCountFields
    {
        /// <summary>The _id is "org|HMAC(user)|yyyymmdd"; this is the number of external recipients counted.</summary>
        public const string Count = "count";
    }

    public static class TombstoneFields
    {
        public const string FolderId = "folderId";
        public const string ModSeq = "modSeq";
        public const string Uids = "uids";
    }

    /// <summary>
    /// field = value as a parameterised expression. LiteDB's Query.EQ inlines the value into the expression
    /// text, so every distinct value is parsed and compiled anew (a JIT per lookup); a parameter keeps one
    /// cached expression per field.
    /// </summary>
    public static BsonExpression Equal(string field, BsonValue value) => BsonExpression.Create($"$.{field} = @0", value);

    /// <summary>The entries of one folder, in index (UID) order, as a parameterised range on <see cref="EntryFields.FolderUid"/>.</summary>
    public static BsonExpression EntriesOfFolder(string folderId) =>
        BsonExpression.Create($"$.{EntryFields.FolderUid} BETWEEN @0 AND @1", FolderUidKey(folderId, 0), FolderUidKey(folderId, uint.MaxValue));

    public static string FolderUidKey(string folderId, uint uid) => $"{folderId}:{uid:D10}";

    /// <summary>Creates every index (idempotent). Runs on the writer thread at open.</summary>
    public static void EnsureIndexes(LiteDatabase db)
    {
        db.GetCollection(Mailboxes).EnsureIndex(MailboxFields.OwnerLookup, unique: true);
        var folders = db.GetCollection(Folders);
        folders.EnsureIndex(FolderFields.NameLookup, unique: true);
        folders.EnsureIndex(FolderFields.MailboxId);
        var entries = db.GetCollection(Entries);
        entries.EnsureIndex(EntryFields.FolderUid, unique: true);
        entries.EnsureIndex(EntryFields.BlobId);
        db.GetCollection(Queue).EnsureIndex(QueueFields.NextAttemptTicks);
        db.GetCollection(Held).EnsureIndex(HeldFields.NextAttemptTicks);
        db.GetCollection(Tombstones).EnsureIndex(TombstoneFields.FolderId);
        db.GetCollection(Imports).EnsureIndex(ImportFields.MailboxId);
        // No index on EntryFields.MailboxId: nothing looks entries up by mailbox on a hot path, and each index
        // costs the writer on every delivery.
    }
}
