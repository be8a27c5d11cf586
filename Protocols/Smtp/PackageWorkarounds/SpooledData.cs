using MailServer.Storage.Spool;

namespace MailServer.Protocols.Smtp;

/// <summary>
/// A DATA section the <see cref="ConnectionGuard"/> read from the connection itself, for the transaction's
/// <see cref="DataReceiver"/>. It travels through the guard (<see cref="ConnectionGuard.TakeSpooled"/>), never through
/// the bytes the SmtpServer package hands over, which are only <see cref="PackageBody"/>: nothing a client sends can
/// stand for a spool.
/// </summary>
/// <param name="Spool">The message, dot-unstuffed, each line with its CRLF; empty when it was too large or could not be kept.</param>
/// <param name="TooLarge">The message was longer than <see cref="SmtpLimits.MaxMessageBytes"/> (its bytes past the cap were read and dropped).</param>
/// <param name="SpoolError">Why the spool could not be written (disk full, I/O error): the section was read to its end
/// and dropped; null when it was kept.</param>
internal sealed record SpooledData(MessageSpool Spool, bool TooLarge, IOException? SpoolError) : IDisposable
{
    /// <summary>
    /// What the guard feeds the package after its 354 instead of the client's DATA section: the package reads it up to
    /// CRLF.CRLF as usual and hands <see cref="PackageBody"/> to the message store.
    /// </summary>
    public static ReadOnlySpan<byte> PackageSection => "SPOOLED\r\n.\r\n"u8;

    /// <summary>What the package hands the message store for <see cref="PackageSection"/> (it strips the final CRLF.CRLF).</summary>
    public static ReadOnlySpan<byte> PackageBody => "SPOOLED"u8;

    /// <summary>Messages up to this size stay in memory; a bigger one goes to an encrypted file (a 10 KiB intake does no file I/O).</summary>
    public const int MemoryThreshold = 256 * 1024;

    /// <summary>Drops the spool (its file, if any, is removed).</summary>
    public void Dispose() => Spool.Dispose();
}
