using System.Security.Cryptography;
using MailServer.Storage.Crypto;
using Npgsql;

namespace MailServer.Storage.PostgreSql;

// Reads run on pooled connections, each statement on the last committed state (READ COMMITTED): a reader never sees
// half a transaction, and sees what another node committed as soon as it is committed.
public sealed partial class PostgreSqlMailStore
{
    private const string FolderColumns =
        "id, mailbox_id, name_sealed, special_use, uid_validity, uid_next, highest_modseq, message_count, unseen_count, subscribed";

    private const string MetaColumns =
        "id, folder_id, uid, modseq, flags, keywords, internal_date_ticks, internal_date_offset, size, last_action_ticks, saved_ticks, blob_id";

    /// <inheritdoc/>
    /// <exception cref="KeyNotFoundException">No such mailbox.</exception>
    public IReadOnlyList<FolderInfo> ListFolders(string mailboxId) => ReadUnderCurrentKey(() => ListFoldersOnce(mailboxId));

    private FolderInfo[] ListFoldersOnce(string mailboxId)
    {
        ArgumentNullException.ThrowIfNull(mailboxId);
        var mailbox = ReadMailbox(mailboxId) ?? throw new KeyNotFoundException($"No mailbox {mailboxId}.");
        var key = MailboxKey(mailboxId, mailbox);
        try
        {
            return ReadFolders(key, $"SELECT {FolderColumns} FROM folders WHERE mailbox_id = $1", mailboxId)
                .OrderBy(f => f.SpecialUse == SpecialUse.Inbox ? 0 : 1)
                .ThenBy(f => f.Name, StringComparer.Ordinal)
                .ToArray();
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <inheritdoc/>
    public FolderInfo? FindFolder(string mailboxId, string name) => ReadUnderCurrentKey(() => FindFolderOnce(mailboxId, name));

    private FolderInfo? FindFolderOnce(string mailboxId, string name)
    {
        if (ReadMailbox(mailboxId) is not { } mailbox)
            return null;
        var key = MailboxKey(mailboxId, mailbox);
        try
        {
            var found = ReadFolders(key, $"SELECT {FolderColumns} FROM folders WHERE name_lookup = $1", NameLookup(key, mailboxId, name)).FirstOrDefault();
            if (found is null && ReadMailbox(mailboxId)?.KeyGeneration is { } current && current != mailbox.KeyGeneration)
                throw new MailboxKeyChangedException(mailboxId); // looked up under a key a rotation replaced meanwhile
            return found;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <inheritdoc/>
    public FolderInfo? GetFolder(string folderId) => ReadUnderCurrentKey(() => GetFolderOnce(folderId));

    private FolderInfo? GetFolderOnce(string folderId)
    {
        var mailboxId = Guard(() =>
        {
            using var command = Command("SELECT mailbox_id FROM folders WHERE id = $1", folderId);
            return command.ExecuteScalar() as string;
        });
        if (mailboxId is null)
            return null;
        var key = MailboxKey(mailboxId);
        try
        {
            return ReadFolders(key, $"SELECT {FolderColumns} FROM folders WHERE id = $1", folderId).FirstOrDefault();
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <inheritdoc/>
    public bool FolderExists(string folderId)
    {
        ArgumentNullException.ThrowIfNull(folderId);
        return Guard(() =>
        {
            using var command = Command("SELECT EXISTS (SELECT 1 FROM folders WHERE id = $1)", folderId);
            return (bool)command.ExecuteScalar()!;
        });
    }

    /// <inheritdoc/>
    public IReadOnlyList<MessageMeta> ListMessages(string folderId) => ListMessages(folderId, 0);

    /// <inheritdoc/>
    public IReadOnlyList<MessageMeta> ListMessages(string folderId, uint firstUid) => Guard(() =>
    {
        using var command = Command($"SELECT {MetaColumns} FROM entries WHERE folder_id = $1 AND uid >= $2 ORDER BY uid", folderId, (long)firstUid);
        using var reader = command.ExecuteReader();
        var result = new List<MessageMeta>();
        while (reader.Read())
            result.Add(ReadMeta(reader));
        return result;
    });

    /// <inheritdoc/>
    /// <exception cref="KeyNotFoundException">No such entry in this mailbox.</exception>
    /// <exception cref="FileNotFoundException">The entry's body is gone.</exception>
    /// <exception cref="CryptographicException">A key or the body was tampered with.</exception>
    public async Task<byte[]> ReadMessageAsync(string mailboxId, string entryId, CancellationToken cancellationToken)
    {
        await using var stream = OpenMessage(mailboxId, entryId);
        var plaintext = new byte[stream.Length];
        await stream.ReadExactlyAsync(plaintext, cancellationToken).ConfigureAwait(false);
        return plaintext;
    }

    /// <inheritdoc/>
    public Stream OpenMessage(string mailboxId, string entryId)
    {
        var (blobId, _, messageKey) = OpenEntry(mailboxId, entryId);
        try
        {
            return Guard(() => _bodies.OpenRead(blobId, messageKey));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(messageKey);
        }
    }

    /// <inheritdoc/>
    public byte[] ReadHeaderSection(string mailboxId, string entryId)
    {
        var (blobId, summary, messageKey) = OpenEntry(mailboxId, entryId);
        try
        {
            return Aead.Open(messageKey, summary, MailStore.SummaryContext(blobId));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(messageKey);
        }
    }

    /// <inheritdoc/>
    /// <exception cref="KeyNotFoundException">No such mailbox.</exception>
    public IReadOnlyList<string> ListSubscriptions(string mailboxId) => ReadUnderCurrentKey(() => ListSubscriptionsOnce(mailboxId));

    private List<string> ListSubscriptionsOnce(string mailboxId)
    {
        var mailbox = ReadMailbox(mailboxId) ?? throw new KeyNotFoundException($"No mailbox {mailboxId}.");
        var key = MailboxKey(mailboxId, mailbox);
        try
        {
            var names = OpenSubscriptionNames(key, mailboxId, mailbox.SubscriptionsSealed);
            foreach (var folder in ReadFolders(key, $"SELECT {FolderColumns} FROM folders WHERE mailbox_id = $1 AND subscribed", mailboxId))
                names.Add(folder.Name);
            return names.Order(StringComparer.Ordinal).ToList();
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <inheritdoc/>
    public IReadOnlyList<uint> ListExpungedSince(string folderId, ulong modSeq)
    {
        ArgumentException.ThrowIfNullOrEmpty(folderId);
        return Guard(() =>
        {
            using var command = Command("SELECT uids FROM tombstones WHERE folder_id = $1 AND modseq > $2", folderId, (long)Math.Min(modSeq, long.MaxValue));
            using var reader = command.ExecuteReader();
            var uids = new SortedSet<uint>();
            while (reader.Read())
                foreach (var uid in reader.GetFieldValue<long[]>(0))
                    uids.Add((uint)uid);
            return (IReadOnlyList<uint>)[.. uids];
        });
    }

    /// <inheritdoc/>
    public uint? ReadRecentMark(string folderId) => Guard(() =>
    {
        using var command = Command("SELECT recent_mark FROM folders WHERE id = $1", folderId);
        return command.ExecuteScalar() is long mark ? (uint?)mark : null;
    });

    /// <summary>An entry's body id, sealed summary and plain message key (the caller zeroes it).</summary>
    /// <exception cref="KeyNotFoundException">No such entry in this mailbox.</exception>
    /// <remarks>The message key is unwrapped with the mailbox key of the entry's generation; when a mailbox key rotation
    /// re-wrapped the entry and ended between the two reads, the entry is read again.</remarks>
    private (string BlobId, byte[] Summary, byte[] MessageKey) OpenEntry(string mailboxId, string entryId)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return OpenEntryOnce(mailboxId, entryId);
            }
            catch (StaleKeyGenerationException) when (attempt < 3)
            {
            }
        }
    }

    private (string BlobId, byte[] Summary, byte[] MessageKey) OpenEntryOnce(string mailboxId, string entryId)
    {
        var (blobId, wrapped, summary, generation) = Guard(() =>
        {
            using var command = Command("SELECT blob_id, wrapped_key, summary, key_generation FROM entries WHERE id = $1 AND mailbox_id = $2", entryId, mailboxId);
            using var reader = command.ExecuteReader();
            if (!reader.Read())
                throw new KeyNotFoundException($"No entry {entryId} in mailbox {mailboxId}.");
            return (reader.GetString(0), reader.GetFieldValue<byte[]>(1), reader.GetFieldValue<byte[]>(2), reader.GetInt32(3));
        });
        var mailboxKey = _keyCache.Get(KeyLedger.SecretId(mailboxId, generation),
            () => UnwrapMailboxKey(ReadMailbox(mailboxId) ?? throw new KeyNotFoundException($"No mailbox {mailboxId}."), generation));
        try
        {
            return (blobId, summary, KeyHierarchy.UnwrapMessageKey(mailboxKey, mailboxId, blobId, wrapped));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(mailboxKey);
        }
    }

    private List<FolderInfo> ReadFolders(byte[] mailboxKey, string sql, params object?[] arguments) => Guard(() =>
    {
        using var command = Command(sql, arguments);
        using var reader = command.ExecuteReader();
        var result = new List<FolderInfo>();
        while (reader.Read())
        {
            var id = reader.GetString(0);
            result.Add(new FolderInfo(
                id,
                reader.GetString(1),
                MailStore.OpenFolderName(mailboxKey, id, reader.GetFieldValue<byte[]>(2)),
                (SpecialUse)reader.GetInt32(3),
                (uint)reader.GetInt64(4),
                (uint)reader.GetInt64(5),
                (ulong)reader.GetInt64(6),
                reader.GetInt32(7),
                reader.GetInt32(8),
                reader.GetBoolean(9)));
        }
        return result;
    });

    private static MessageMeta ReadMeta(NpgsqlDataReader reader)
    {
        var internalDate = new DateTimeOffset(reader.GetInt64(6), TimeSpan.Zero).ToOffset(TimeSpan.FromMinutes(reader.GetInt32(7)));
        var blobId = reader.GetString(11);
        return new MessageMeta(
            reader.GetString(0),
            reader.GetString(1),
            (uint)reader.GetInt64(2),
            (ulong)reader.GetInt64(3),
            (MessageFlags)reader.GetInt32(4),
            reader.GetFieldValue<string[]>(5),
            internalDate,
            reader.GetInt64(8),
            new DateTimeOffset(reader.GetInt64(9), TimeSpan.Zero))
        {
            SavedAt = new DateTimeOffset(reader.GetInt64(10), TimeSpan.Zero),
            ContentKey = MailStore.ContentKeyOf(blobId),
        };
    }

    private static string NameLookup(byte[] mailboxKey, string mailboxId, string name)
    {
        var nameKey = KeyHierarchy.FolderNameHmacKey(mailboxKey);
        try
        {
            return MailStore.FolderLookup(nameKey, mailboxId, name);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(nameKey);
        }
    }

    private static HashSet<string> OpenSubscriptionNames(byte[] mailboxKey, string mailboxId, byte[]? sealedNames)
    {
        if (sealedNames is null)
            return new HashSet<string>(StringComparer.Ordinal);
        var json = Aead.Open(mailboxKey, sealedNames, Aead.Utf8("subscriptions/" + mailboxId));
        return new HashSet<string>(System.Text.Json.JsonSerializer.Deserialize<string[]>(json) ?? [], StringComparer.Ordinal);
    }

    private static byte[] SealSubscriptionNames(byte[] mailboxKey, string mailboxId, HashSet<string> names) =>
        Aead.Seal(mailboxKey, System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(names.Order(StringComparer.Ordinal).ToArray()),
            Aead.Utf8("subscriptions/" + mailboxId));
}
