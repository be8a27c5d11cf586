namespace MailServer.Storage;

/// <summary>
/// Everything an IMAP listener and its sessions use: the session contract (<see cref="IImapSessionStore"/>) with
/// REPLACE and METADATA (<see cref="IImapExtensionStore"/>). Both engines implement it; an engine that also keeps a
/// body search index implements <see cref="ISearchIndexStore"/>, which SEARCH looks for on the same instance.
/// </summary>
public interface IImapStore : IImapSessionStore, IImapExtensionStore;

/// <summary>
/// Mailbox imports (mail that exists elsewhere: an IMAP account, a WorkMail export, mbox, Maildir) with the folder
/// operations the importer needs. Both engines implement it.
/// </summary>
public interface IMailboxImportStore : IImapStore
{
    /// <summary>
    /// Stores messages of an import into one folder in one transaction, UIDs ascending in the given order, with their
    /// flags, keywords and internal dates, encrypted like delivered mail; no flow rules run for them. Idempotent: the
    /// mailbox's import ledger remembers each (folder, SHA-256 of the octets) it stored, in the same transaction as the
    /// entry, keyed by an HMAC under a key derived from the organization's owner-lookup key (it reveals neither folder
    /// names nor message hashes), so importing the same message into the same folder again stores nothing, and a
    /// message the user deleted after its import stays deleted when the import runs again.
    /// </summary>
    /// <returns>One outcome per message, in order (<see cref="ImportOutcome.Duplicate"/> when it was imported before).</returns>
    /// <remarks>Quota is the caller's decision.</remarks>
    /// <exception cref="ArgumentException">No messages, or the mailbox or folder does not exist.</exception>
    /// <exception cref="WriteOutcomeUnknownException">The commit failed; nothing was acknowledged.</exception>
    /// <exception cref="IOException">The store failed before the commit; nothing was stored.</exception>
    Task<IReadOnlyList<ImportOutcome>> ImportAsync(string mailboxId, string folderName, IReadOnlyList<AppendItem> messages, CancellationToken cancellationToken);
}
