namespace MailServer.Storage.Crypto;

/// <summary>
/// A key ledger as it is stored: the sealed header box and one sealed box per mailbox secret, every box under master
/// key version <paramref name="Version"/> (<see cref="KeyLedger"/> seals and opens them; the storage never sees a
/// secret). <paramref name="Generation"/> counts the rewrites (rotation, shredding), so that a node can tell cheaply
/// whether its copy is stale; storages that have one writer report 0. <paramref name="LastRecordMayBeTorn"/>: an append
/// cut by a crash can leave a last record that does not open (a file); its mailbox was never committed and the record
/// is skipped. Where appends are atomic (a database row), a record that does not open is damage and is refused.
/// </summary>
public sealed record SealedLedger(int Version, byte[] Header, IReadOnlyList<byte[]> Records, long Generation, bool LastRecordMayBeTorn = false);

/// <summary>
/// Where an organization's <see cref="KeyLedger"/> is kept: a file beside the master keys (<see cref="KeyLedgerFile"/>,
/// one process) or a key database that several nodes share (the PostgreSQL engine's). Never the mail database: a
/// copy of the mail database must not hold the secrets, or shredding would not reach it.
/// </summary>
public interface IKeyLedgerStorage
{
    /// <summary>Where the ledger lives, for error messages (no secret, no password).</summary>
    string Description { get; }

    /// <summary>The stored ledger, or null when there is none.</summary>
    /// <exception cref="InvalidDataException">What is stored is not a key ledger.</exception>
    /// <exception cref="IOException">The storage cannot be read.</exception>
    SealedLedger? Read();

    /// <summary>Stores <paramref name="ledger"/> unless a ledger exists already (then the existing one wins).</summary>
    /// <exception cref="IOException">The storage cannot be written.</exception>
    void CreateIfAbsent(SealedLedger ledger);

    /// <summary>
    /// Appends <paramref name="records"/> (sealed under <paramref name="version"/>) durably. Returns false, storing
    /// nothing, when the stored ledger is sealed under another version now (another node rotated): the caller reads
    /// again and re-seals.
    /// </summary>
    /// <exception cref="IOException">The storage cannot be written; nothing was appended.</exception>
    bool Append(int version, IReadOnlyList<byte[]> records);

    /// <summary>
    /// Replaces the whole ledger atomically: reads what is stored under an exclusive lock (no append or other rewrite
    /// runs meanwhile, on any node), gives it to <paramref name="change"/>, and stores what that returns (null: nothing
    /// to change), so that no version of the ledger that remains holds a record the change removed.
    /// </summary>
    /// <exception cref="IOException">The storage cannot be written; nothing changed.</exception>
    void Rewrite(Func<SealedLedger?, SealedLedger?> change);

    /// <summary>The stored ledger's <see cref="SealedLedger.Generation"/>, or null when this storage has one writer and
    /// its reader's copy is never stale.</summary>
    /// <exception cref="IOException">The storage cannot be read.</exception>
    long? Generation();
}
