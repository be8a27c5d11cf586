using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>COMPRESS (RFC 4978): after the tagged OK both directions are raw deflate (the session inserts the layer).</summary>
internal static class CompressHandler
{
    public static Task<ImapCompletion> RunAsync(CompressCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        // RFC 4978 §3: an unknown mechanism is BAD; a second COMPRESS is NO [COMPRESSIONACTIVE].
        if (!command.Mechanism.Equals("DEFLATE", StringComparison.OrdinalIgnoreCase))
            throw new ImapSyntaxException("Unknown compression mechanism");
        if (session.CompressionActive || session.CompressRequested)
            throw new ImapRefusedException(ResponseCode.CompressionActive, "DEFLATE is active already");
        session.CompressRequested = true;
        return Task.FromResult(ImapCompletion.Ok("DEFLATE active"));
    }
}
