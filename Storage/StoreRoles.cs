namespace MailServer.Storage;

/// <summary>
/// Everything an IMAP listener and its sessions use: the session contract (<see cref="IImapSessionStore"/>) with
/// REPLACE and METADATA (<see cref="IImapExtensionStore"/>). Both engines implement it; an engine that also keeps a
/// body search index implements <see cref="ISearchIndexStore"/>, which SEARCH looks for on the same instance.
/// </summary>
public interface IImapStore : IImapSessionStore, IImapExtensionStore;
