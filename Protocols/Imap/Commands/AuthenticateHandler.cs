using System.Text;
using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>
/// AUTHENTICATE (RFC 9051 §6.2.2) with PLAIN (RFC 4616) and LOGIN, and the SASL-IR initial response (RFC 4959).
/// </summary>
internal static class AuthenticateHandler
{
    public static async Task<ImapCompletion> RunAsync(AuthenticateCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        LoginHandler.RequirePrivacy(session);
        switch (command.Mechanism.ToUpperInvariant())
        {
            case "PLAIN":
            {
                var response = command.InitialResponse ?? await ChallengeAsync(session, []);
                var parts = response.Length == 0 ? [] : Encoding.UTF8.GetString(response).Split('\0');
                if (parts.Length != 3)
                    throw new ImapSyntaxException("Malformed PLAIN response");
                // RFC 4616 §2: an authorization identity other than the user's own would be proxy login.
                if (parts[0].Length > 0 && !parts[0].Equals(parts[1], StringComparison.OrdinalIgnoreCase))
                    throw new ImapRefusedException(ResponseCode.AuthorizationFailed, "Logging in as another user is not allowed");
                return await LoginHandler.LogInAsync(session, parts[1], parts[2], cancellationToken);
            }
            case "LOGIN":
            {
                var user = command.InitialResponse ?? await ChallengeAsync(session, "Username:"u8.ToArray());
                var password = await ChallengeAsync(session, "Password:"u8.ToArray());
                return await LoginHandler.LogInAsync(session, Encoding.UTF8.GetString(user), Encoding.UTF8.GetString(password), cancellationToken);
            }
            default:
                throw new ImapRefusedException(ResponseCode.Cannot, "Unsupported authentication mechanism");
        }
    }

    private static async Task<byte[]> ChallengeAsync(ImapSession session, byte[] challenge)
    {
        session.Writer.ContinuationBase64(challenge);
        await session.FlushAsync(session.Shutdown);
        var line = await session.ReadLineAsync(session.Shutdown) ?? throw new IOException("The client left during AUTHENTICATE.");
        return SaslResponse.Parse(line.Span) switch
        {
            SaslResponse.Data data => data.Bytes,
            SaslResponse.Cancelled => throw new ImapSyntaxException("Authentication cancelled"),
            SaslResponse.Malformed malformed => throw new ImapSyntaxException(malformed.Reason),
            _ => throw new ImapSyntaxException("Unexpected response"),
        };
    }
}
