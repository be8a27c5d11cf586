namespace MailServer.Storage.Blobs;

/// <summary>
/// Where an engine keeps encrypted message bodies, apart from their metadata: bodies sealed in the segmented layout of
/// <see cref="BlobStore"/> (64 KiB segments, AES-256-GCM each, bound to the body id, its index and a final flag), read
/// back as a seekable plaintext stream that decrypts only the segments a read covers. The engine hands every write and
/// delete the unit of work its metadata commits in (<typeparamref name="TTransaction"/>): a store inside the database
/// (PostgreSQL) joins it, so a body and the entries that refer to it commit or vanish together; a store outside it (an
/// object store, later) writes durably before the metadata commits and deletes after.
/// </summary>
/// <typeparam name="TTransaction">The engine's unit of work.</typeparam>
public interface IBodyStore<in TTransaction>
{
    /// <summary>Stores a sealed body as part of <paramref name="transaction"/>.</summary>
    /// <exception cref="IOException">The body could not be stored.</exception>
    Task PutAsync(SealedBody body, TTransaction transaction, CancellationToken cancellationToken);

    /// <summary>Deletes those of <paramref name="blobIds"/> no entry refers to any more, as part of <paramref name="transaction"/>.</summary>
    /// <returns>How many bodies were deleted.</returns>
    Task<int> DeleteUnreferencedAsync(IReadOnlyCollection<string> blobIds, TTransaction transaction, CancellationToken cancellationToken);

    /// <summary>
    /// Opens a body as a read-only, seekable stream of its plaintext (<see cref="Stream.Length"/> is its size). The
    /// stream keeps its own copy of <paramref name="messageKey"/> and wipes it on dispose.
    /// </summary>
    /// <exception cref="FileNotFoundException">No such body.</exception>
    /// <exception cref="System.Security.Cryptography.CryptographicException">The header names another body or was altered;
    /// on a read, a segment was altered, moved, dropped or cut off.</exception>
    Stream OpenRead(string blobId, byte[] messageKey);
}
