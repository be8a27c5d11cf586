using System.Net.Sockets;

namespace MailServer.Protocols.Net;

/// <summary>
/// Acknowledges received data at once instead of after the delayed-ACK timer, for a peer that is part-way through
/// sending something (an IMAP literal, an SMTP DATA section, a command line split across writes). A client with
/// Nagle's algorithm on holds its next small write until the previous one is acknowledged, so each such exchange
/// would otherwise wait out Linux's minimum delayed ACK, 40 ms. TCP_QUICKACK is Linux's and is not permanent (the
/// kernel may leave quick-ack mode again), so callers ask again before each read that expects more.
/// </summary>
public static class TcpQuickAck
{
    private const int IpProtoTcp = 6;   // IPPROTO_TCP
    private const int TcpQuickAckOption = 12; // TCP_QUICKACK, linux/tcp.h

    /// <summary>Sends any pending ACK now and acknowledges the next segments promptly. Does nothing off Linux, for a
    /// null socket, or on a socket the peer already closed (the read that follows reports that).</summary>
    public static void Request(Socket? socket)
    {
        if (socket is null || !OperatingSystem.IsLinux())
            return;
        try
        {
            Span<byte> on = stackalloc byte[sizeof(int)];
            BitConverter.TryWriteBytes(on, 1);
            socket.SetRawSocketOption(IpProtoTcp, TcpQuickAckOption, on);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
