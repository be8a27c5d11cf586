namespace MailServer.Storage;

/// <summary>Which way an in-transit message is flowing (§11: the <c>incoming</c> and <c>outgoing</c> contexts).</summary>
public enum MessageFlowContext
{
    /// <summary>Received by the organization.</summary>
    Incoming,

    /// <summary>Sent by the organization.</summary>
    Outgoing,
}

/// <summary>One in-transit copy as listed (no content).</summary>
/// <param name="MessageId">The id hooks receive as <c>messageId</c>.</param>
/// <param name="OrganizationId">The organization it belongs to.</param>
/// <param name="Context">Incoming or outgoing.</param>
/// <param name="StoredAt">When it was stored (the 24-hour window counts from here).</param>
/// <param name="Updatable">True while a synchronous hook holds the message and may replace its content.</param>
public sealed record InTransitMessage(Guid MessageId, string OrganizationId, MessageFlowContext Context, DateTimeOffset StoredAt, bool Updatable);

/// <summary>
/// The messages hooks may read through the message flow API (§11): encrypted copies of messages in transit,
/// kept 24 hours. Narrow on purpose; implemented by <see cref="MailStore"/> (one owner of the database).
/// </summary>
public interface IMessageFlowStore
{
    /// <summary>How long an in-transit copy can be read (§11: "within 24 hours of being sent or received").</summary>
    public static readonly TimeSpan Window = TimeSpan.FromHours(24);

    /// <summary>Stores an encrypted copy (fsync'd before the task completes) and returns its new message id.</summary>
    /// <exception cref="IOException">The copy could not be written.</exception>
    /// <exception cref="KeyNotFoundException">No master key for <paramref name="organizationId"/>.</exception>
    Task<Guid> StoreInTransitAsync(string organizationId, MessageFlowContext context, ReadOnlyMemory<byte> message, bool updatable, CancellationToken cancellationToken);

    /// <summary>The copy's metadata, or null when there is none or it is older than <see cref="Window"/>.</summary>
    InTransitMessage? FindInTransit(Guid messageId);

    /// <summary>The copy's content, or null when there is none or it is older than <see cref="Window"/>.</summary>
    /// <exception cref="System.Security.Cryptography.CryptographicException">The copy was altered.</exception>
    Task<byte[]?> ReadInTransitAsync(Guid messageId, CancellationToken cancellationToken);

    /// <summary>Replaces the content of an updatable copy; false when there is none, it expired, or it is not updatable.</summary>
    Task<bool> ReplaceInTransitAsync(Guid messageId, ReadOnlyMemory<byte> message, CancellationToken cancellationToken);

    /// <summary>Ends the update window of a copy (its synchronous hook decided); false when there is none.</summary>
    Task<bool> SealInTransitAsync(Guid messageId, CancellationToken cancellationToken);

    /// <summary>Deletes copies older than <see cref="Window"/>; returns how many.</summary>
    Task<int> PurgeInTransitAsync(CancellationToken cancellationToken);
}
