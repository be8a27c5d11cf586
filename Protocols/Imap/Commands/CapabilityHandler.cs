using System.Globalization;
using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>CAPABILITY (RFC 9051 §6.1.1): what the server offers in the session's current state.</summary>
internal static class CapabilityHandler
{
    public static Task<ImapCompletion> RunAsync(CapabilityCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        session.Writer.BeginUntagged().Atom("CAPABILITY");
        foreach (var name in Capabilities(session))
            session.Writer.Atom(name);
        session.Writer.End();
        return Task.FromResult(ImapCompletion.Ok("CAPABILITY completed"));
    }

    /// <summary>The capability list for the session's state.</summary>
    public static IEnumerable<string> Capabilities(ImapSession session)
    {
        yield return "IMAP4rev1";
        yield return "IMAP4rev2";
        yield return "LITERAL+";
        yield return "SASL-IR";
        yield return "ID";
        yield return "ENABLE";
        yield return "IDLE";
        if (session.State is ImapSessionState.NotAuthenticated)
        {
            if (!session.IsSecure)
                yield return "STARTTLS";
            if (session.LoginAllowed)
            {
                yield return "AUTH=PLAIN";
                yield return "AUTH=LOGIN";
            }
            else
            {
                yield return "LOGINDISABLED"; // RFC 9051 §6.2.3
            }
            yield break;
        }
        yield return "NAMESPACE";
        yield return "UNSELECT";
        yield return "UIDPLUS";
        yield return "MOVE";
        yield return "CHILDREN";
        yield return "SPECIAL-USE";
        yield return "CREATE-SPECIAL-USE"; // RFC 6154 §3
        yield return "LIST-EXTENDED";
        yield return "LIST-STATUS";
        yield return "CONDSTORE";
        yield return "QRESYNC"; // RFC 7162 §3.2
        yield return "UTF8=ACCEPT"; // RFC 6855
        yield return "MULTIAPPEND"; // RFC 3502
        yield return "REPLACE"; // RFC 8508: REPLACE / UID REPLACE, atomic in the store
        yield return "CATENATE"; // RFC 4469: APPEND ... CATENATE (TEXT / URL parts), URLs of this server and user
        yield return "SEARCHRES"; // RFC 5182
        yield return "ACL"; // RFC 4314: MYRIGHTS/GETACL/LISTRIGHTS report; SETACL/DELETEACL are refused
        yield return "RIGHTS=kxte"; // RFC 4314 §2.1
        yield return "ESEARCH";
        yield return "METADATA"; // RFC 5464: GETMETADATA / SETMETADATA, server and mailbox entries
        yield return "NOTIFY"; // RFC 5465: MessageNew / MessageExpunge / FlagChange / MailboxName from the change feed
        yield return "UIDONLY"; // RFC 9586: ENABLE UIDONLY
        yield return "PARTIAL"; // RFC 9394: SEARCH / SORT RETURN (PARTIAL range), UID FETCH ... (PARTIAL range)
        yield return "SORT";
        yield return "SORT=DISPLAY"; // RFC 5957: DISPLAYFROM / DISPLAYTO sort keys
        yield return "ESORT"; // RFC 5267 §3: SORT RETURN (MIN MAX ALL COUNT [SAVE])
        yield return "CONTEXT=SEARCH"; // RFC 5267 §4: UID SEARCH RETURN (UPDATE), ADDTO / REMOVEFROM, CANCELUPDATE
        yield return "CONTEXT=SORT"; // RFC 5267 §4: the same for UID SORT
        yield return "WITHIN"; // RFC 5032: SEARCH OLDER / YOUNGER
        yield return "OBJECTID"; // RFC 8474: MAILBOXID, EMAILID, THREADID (NIL: threads are not kept)
        yield return "SAVEDATE"; // RFC 8514
        yield return "PREVIEW"; // RFC 8970: FETCH PREVIEW [(LAZY)]
        yield return "BINARY"; // RFC 3516: FETCH BINARY / BINARY.SIZE, APPEND ~{n}
        yield return "COMPRESS=DEFLATE"; // RFC 4978
        yield return "STATUS=SIZE"; // RFC 8438: STATUS (SIZE), also in LIST RETURN (STATUS (SIZE))
        yield return "QUOTA"; // RFC 9208
        yield return "QUOTA=RES-STORAGE";
        foreach (var algorithm in Messages.Threading.Algorithms)
            yield return "THREAD=" + algorithm;
        yield return "APPENDLIMIT=" + session.Options.Limits.MaxMessageBytes.ToString(CultureInfo.InvariantCulture);
    }
}
