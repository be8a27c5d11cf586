using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap;

/// <summary>
/// The outcome a command handler reports for its tagged reply. Handlers return OK completions and throw
/// <see cref="ImapCommandException"/> for the rest; <see cref="ImapSession"/> turns both into the tagged reply in
/// one place (<c>ImapSession.RunCommandAsync</c>).
/// </summary>
/// <param name="Code">Optional response code (e.g. <c>[READ-WRITE]</c>, <c>[APPENDUID ...]</c>).</param>
/// <param name="Text">Human-readable text.</param>
public sealed record ImapCompletion(ResponseCode? Code, string Text)
{
    /// <summary>A plain <c>OK</c> with <paramref name="text"/>.</summary>
    public static ImapCompletion Ok(string text) => new(null, text);
}

/// <summary>
/// The error taxonomy of IMAP commands. Each kind maps to one wire form:
/// <see cref="ImapSyntaxException"/> → <c>BAD</c>; <see cref="ImapRefusedException"/> → <c>NO [code]</c>;
/// <see cref="ImapTemporaryException"/> → <c>NO [UNAVAILABLE]</c>. Anything else escaping a handler is a server
/// fault: logged with its stack and answered <c>NO [SERVERBUG]</c>, and the session goes on.
/// </summary>
public abstract class ImapCommandException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The command is not valid here (arguments, state, or sequence numbers): <c>tag BAD text</c> (RFC 9051 §7.1.3).</summary>
public sealed class ImapSyntaxException(string message, ResponseCode? code = null) : ImapCommandException(message)
{
    /// <summary>Optional response code, e.g. <c>[CLIENTBUG]</c>.</summary>
    public ResponseCode? Code { get; } = code;
}

/// <summary>The command was understood but refused: <c>tag NO [code] text</c> (RFC 9051 §7.1.2, RFC 5530 codes).</summary>
public sealed class ImapRefusedException(ResponseCode? code, string message) : ImapCommandException(message)
{
    /// <summary>The response code naming why, or null.</summary>
    public ResponseCode? Code { get; } = code;
}

/// <summary>
/// The selected mailbox is gone for this session (deleted by another session, or the Full Access it was opened
/// through was withdrawn): the session cannot stay in the selected state, so it says <c>* BYE</c> and closes
/// (RFC 9051 §7.1.5) instead of answering the command.
/// </summary>
public sealed class ImapSelectionLostException(string message) : ImapCommandException(message);

/// <summary>A resource is temporarily unavailable (store busy, write outcome unknown): <c>tag NO [UNAVAILABLE]</c>
/// (RFC 5530 §3); the client may retry.</summary>
public sealed class ImapTemporaryException(string message, Exception? inner = null) : ImapCommandException(message, inner);
