namespace MailServer.Storage;

/// <summary>A change committed to one mailbox. Data only: the feed never calls back into sessions.</summary>
public abstract record MailboxChange(string MailboxId, string FolderId, ulong ModSeq)
{
    /// <summary>A message was added to a folder (delivery, APPEND, COPY, MOVE).</summary>
    public sealed record MessageAdded(string MailboxId, string FolderId, ulong ModSeq, uint Uid) : MailboxChange(MailboxId, FolderId, ModSeq);

    /// <summary>A message's flags or keywords changed.</summary>
    public sealed record FlagsChanged(string MailboxId, string FolderId, ulong ModSeq, uint Uid, MessageFlags Flags, IReadOnlyList<string> Keywords) : MailboxChange(MailboxId, FolderId, ModSeq);

    /// <summary>Messages were expunged from a folder.</summary>
    public sealed record MessagesExpunged(string MailboxId, string FolderId, ulong ModSeq, IReadOnlyList<uint> Uids) : MailboxChange(MailboxId, FolderId, ModSeq);

    /// <summary>The subscriptions changed (SUBSCRIBE / UNSUBSCRIBE, RFC 9051 §6.3.7–§6.3.8): the new list is read from
    /// the store. <see cref="MailboxChange.FolderId"/> is empty and <see cref="MailboxChange.ModSeq"/> 0: it concerns a
    /// name, not a folder's messages, and spends no mod-sequence.</summary>
    public sealed record SubscriptionsChanged(string MailboxId) : MailboxChange(MailboxId, "", 0);

    /// <summary>A folder was created, renamed or deleted (<see cref="MailboxChange.ModSeq"/> the mailbox's new one), or
    /// its owner's sharing entries changed (IMAP SETACL / DELETEACL, RFC 4314 §3.1–§3.2: ModSeq 0, no message changed).</summary>
    public sealed record FoldersChanged(string MailboxId, string FolderId, ulong ModSeq) : MailboxChange(MailboxId, FolderId, ModSeq);

    /// <summary>The annotations (RFC 5464 METADATA) of a folder changed, or with an empty
    /// <see cref="MailboxChange.FolderId"/> those of the mailbox (the server entries). It names no entry and carries no
    /// value: a reader opens the sealed map itself, so nothing of the annotations travels in clear through the feed
    /// (PostgreSQL's NOTIFY queue included). <see cref="MailboxChange.ModSeq"/> is 0: no message changed.</summary>
    public sealed record MetadataChanged(string MailboxId, string FolderId) : MailboxChange(MailboxId, FolderId, 0);
}

/// <summary>
/// Publishes committed changes to subscribers (IMAP sessions). A subscriber reads its own bounded
/// channel; a subscriber that falls behind is told so by <see cref="IChangeSubscription.Overflowed"/>
/// and must resynchronise from the store rather than lose a change silently.
/// </summary>
public interface IChangeFeed
{
    /// <summary>Subscribes to the changes of one mailbox (<see cref="ChangeFeed.AllMailboxes"/>: of every mailbox, for
    /// background work such as the search indexer). Dispose the subscription to stop.</summary>
    IChangeSubscription Subscribe(string mailboxId);
}

/// <summary>One subscriber's view of the feed.</summary>
public interface IChangeSubscription : IDisposable
{
    /// <summary>The changes, in commit order.</summary>
    System.Threading.Channels.ChannelReader<MailboxChange> Reader { get; }

    /// <summary>True once a change was dropped because the reader fell too far behind.</summary>
    bool Overflowed { get; }
}
