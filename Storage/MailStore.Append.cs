using System.Security.Cryptography;
using LiteDB;
using MailServer.Storage.Blobs;
using MailServer.Storage.Crypto;
using E = MailServer.Storage.Schema.EntryFields;
using M = MailServer.Storage.Schema.MailboxFields;

namespace MailServer.Storage;

/// <summary>One message of an APPEND: its octets, internal date, flags and keywords.</summary>
public sealed record AppendItem(ReadOnlyMemory<byte> Message, DateTimeOffset InternalDate, MessageFlags Flags, IReadOnlyList<string> Keywords);

public sealed partial class MailStore
{
    /// <summary>
    /// Stores several messages in one folder of one mailbox, all or none (IMAP MULTIAPPEND, RFC 3502 §6.3.11: "if
    /// the server fails to append any message, none are appended"). Each message is encrypted into its own blob;
    /// their entries, with flags and keywords, are linked in one transaction, UIDs ascending in the given order.
    /// </summary>
    /// <returns>The stored copies, in the order of <paramref name="messages"/>.</returns>
    /// <exception cref="ArgumentException">No messages, or the mailbox or folder does not exist.</exception>
    /// <exception cref="WriteOutcomeUnknownException">The commit or fsync failed; nothing was acknowledged.</exception>
    /// <exception cref="IOException">A blob could not be written.</exception>
    public Task<IReadOnlyList<StoredMessage>> AppendAsync(string mailboxId, string folderName, IReadOnlyList<AppendItem> messages,
        CancellationToken cancellationToken) =>
        RetryOnKeyChangeAsync(() => AppendOnceAsync(mailboxId, folderName, messages, cancellationToken));

    private async Task<IReadOnlyList<StoredMessage>> AppendOnceAsync(string mailboxId, string folderName, IReadOnlyList<AppendItem> messages,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (messages.Count == 0)
            throw new ArgumentException("An append needs at least one message.", nameof(messages));
        cancellationToken.ThrowIfCancellationRequested();
        var mailbox = Collection(Schema.Mailboxes).FindById(mailboxId) ?? throw new ArgumentException($"No mailbox {mailboxId}.", nameof(mailboxId));
        var organizationId = mailbox[M.Organization].AsString;
        var (mailboxKey, generation) = CurrentMailboxKey(mailbox);
        var generations = new Dictionary<string, int>(StringComparer.Ordinal) { [mailboxId] = generation };
        var blobs = new List<(string BlobId, byte[] WrappedKey, byte[] Summary, AppendItem Item)>(messages.Count);
        var committed = false;
        try
        {
            var folder = FindFolderDocument(mailboxId, folderName, mailboxKey)
                ?? throw new ArgumentException($"Mailbox {mailboxId} has no folder named as requested.", nameof(folderName));
            var folderId = folder["_id"].AsString;
            foreach (var item in messages)
            {
                var blobId = BlobStore.NewBlobId(Now);
                var messageKey = Aead.NewKey();
                try
                {
                    var wrapped = KeyHierarchy.WrapMessageKey(mailboxKey, mailboxId, blobId, messageKey);
                    var summary = SealSummary(messageKey, blobId, HeaderSection(item.Message.Span));
                    _inFlightBlobs.TryAdd(blobId, 0);
                    blobs.Add((blobId, wrapped, summary, item));
                    _blobs.Write(blobId, organizationId, messageKey, item.Message.Span);
                }
                finally
                {
                    CryptographicOperations.ZeroMemory(messageKey);
                }
            }
            var now = Now;
            var target = new DeliveryTarget(mailboxId, folderName);
            var result = await RunOnWriter<IReadOnlyList<StoredMessage>>(ctx =>
            {
                var stored = new List<StoredMessage>(blobs.Count);
                foreach (var (blobId, wrapped, summary, item) in blobs)
                {
                    var copy = LinkEntries(ctx, [(target with { Flags = item.Flags }, folderId)], blobId,
                        new Dictionary<string, byte[]>(StringComparer.Ordinal) { [mailboxId] = wrapped }, generations, summary, item.Message.Length,
                        item.InternalDate, now)[0];
                    if (item.Keywords.Count > 0)
                    {
                        var entry = ctx.Read(Schema.Entries).FindById(copy.EntryId);
                        entry[E.Keywords] = new BsonArray(item.Keywords.Distinct(StringComparer.OrdinalIgnoreCase).Select(k => new BsonValue(k)));
                        ctx.Update(Schema.Entries, entry);
                    }
                    stored.Add(copy);
                }
                return stored;
            }, blobs.SelectMany(b => _blobs.SyncPaths(b.BlobId)).Distinct(StringComparer.Ordinal).ToList(), cancellationToken).ConfigureAwait(false);
            committed = true;
            return result;
        }
        catch (WriteOutcomeUnknownException)
        {
            committed = true; // the entries may be on disk: leave the blobs for reindex to judge
            throw;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(mailboxKey);
            foreach (var (blobId, _, _, _) in blobs)
            {
                if (!committed)
                    _blobs.Delete(blobId); // rolled back or never queued: nobody refers to it
                _inFlightBlobs.TryRemove(blobId, out _);
            }
        }
    }
}
