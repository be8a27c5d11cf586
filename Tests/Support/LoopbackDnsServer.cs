using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace MailServer.Tests.Support;

/// <summary>
/// A real, authoritative DNS server on 127.0.0.1 (UDP and TCP on one port) serving the test's own zone,
/// so the server's resolver, SPF, DKIM, DMARC and MX lookups run over real sockets (RFC 1035 wire format).
/// Names are case-insensitive and given without a trailing dot. A name with records of another type
/// answers NOERROR with no records; a name that exists nowhere (not even as a parent) answers NXDOMAIN.
/// </summary>
public sealed class LoopbackDnsServer : IAsyncDisposable
{
    private enum RecordType : ushort { A = 1, Cname = 5, Soa = 6, Ptr = 12, Mx = 15, Txt = 16, Aaaa = 28, Opt = 41, Tlsa = 52 }

    private sealed record Record(string Name, RecordType Type, byte[] Data, int Ttl);

    private readonly ConcurrentDictionary<string, List<Record>> _records = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, bool> _failures = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, bool> _silent = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, bool> _authenticated = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentQueue<string> _queries = new();
    private readonly UdpClient _udp;
    private readonly TcpListener _tcp;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _udpLoop;
    private readonly Task _tcpLoop;

    private LoopbackDnsServer(UdpClient udp, TcpListener tcp)
    {
        _udp = udp;
        _tcp = tcp;
        _udpLoop = Task.Run(ServeUdpAsync);
        _tcpLoop = Task.Run(ServeTcpAsync);
    }

    /// <summary>The address to give the resolver.</summary>
    public IPAddress Address => IPAddress.Loopback;

    /// <summary>The port, the same for UDP and TCP.</summary>
    public int Port => ((IPEndPoint)_udp.Client.LocalEndPoint!).Port;

    /// <summary>
    /// When set, negative answers (NXDOMAIN and NOERROR without records) carry an SOA record in the authority section
    /// whose TTL and MINIMUM are this many seconds, as real servers' do (RFC 2308 §3); when null (the default) they
    /// carry none, so a resolver must not cache them (RFC 2308 §5).
    /// </summary>
    public int? NegativeTtlSeconds { get; set; }

    /// <summary>Every query received, as "name TYPE", in order (for lookup-count assertions).</summary>
    public IReadOnlyList<string> Queries => _queries.ToArray();

    /// <summary>Starts the server on a free port.</summary>
    public static LoopbackDnsServer Start()
    {
        for (var attempt = 0; ; attempt++)
        {
            var udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
            var port = ((IPEndPoint)udp.Client.LocalEndPoint!).Port;
            var tcp = new TcpListener(IPAddress.Loopback, port);
            try
            {
                tcp.Start();
                return new LoopbackDnsServer(udp, tcp);
            }
            catch (SocketException) when (attempt < 20)
            {
                udp.Dispose(); // the TCP port was taken: try another
            }
        }
    }

    public LoopbackDnsServer AddA(string name, string address, int ttl = 300) =>
        Add(name, RecordType.A, IPAddress.Parse(address).GetAddressBytes(), ttl);

    public LoopbackDnsServer AddAaaa(string name, string address, int ttl = 300) =>
        Add(name, RecordType.Aaaa, IPAddress.Parse(address).GetAddressBytes(), ttl);

    public LoopbackDnsServer AddMx(string name, int preference, string exchange, int ttl = 300)
    {
        var data = new List<byte> { (byte)(preference >> 8), (byte)preference };
        data.AddRange(EncodeName(exchange));
        return Add(name, RecordType.Mx, data.ToArray(), ttl);
    }

    /// <summary>One TXT record; text longer than 255 bytes is split into several character-strings (RFC 1035 §3.3.14).</summary>
    public LoopbackDnsServer AddTxt(string name, string text, int ttl = 300)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var data = new List<byte>();
        for (var offset = 0; offset < bytes.Length || offset == 0; offset += 255)
        {
            var length = Math.Min(255, bytes.Length - offset);
            data.Add((byte)length);
            data.AddRange(bytes.AsSpan(offset, length).ToArray());
            if (bytes.Length == 0) break;
        }
        return Add(name, RecordType.Txt, data.ToArray(), ttl);
    }

    /// <summary>One TXT record made of exactly these character-strings.</summary>
    public LoopbackDnsServer AddTxtStrings(string name, params string[] strings)
    {
        var data = new List<byte>();
        foreach (var s in strings)
        {
            var bytes = Encoding.UTF8.GetBytes(s);
            data.Add((byte)bytes.Length);
            data.AddRange(bytes);
        }
        return Add(name, RecordType.Txt, data.ToArray(), 300);
    }

    public LoopbackDnsServer AddCname(string name, string target, int ttl = 300) =>
        Add(name, RecordType.Cname, EncodeName(target), ttl);

    /// <summary>A PTR record for <paramref name="address"/> (the in-addr.arpa / ip6.arpa name is derived).</summary>
    public LoopbackDnsServer AddPtr(string address, string target, int ttl = 300) =>
        Add(ReverseName(IPAddress.Parse(address)), RecordType.Ptr, EncodeName(target), ttl);

    /// <summary>A TLSA record (RFC 6698 §2.1): certificate usage, selector, matching type and the association data.</summary>
    public LoopbackDnsServer AddTlsa(string name, byte usage, byte selector, byte matchingType, byte[] data, int ttl = 300) =>
        Add(name, RecordType.Tlsa, [usage, selector, matchingType, .. data], ttl);

    /// <summary>
    /// Answers for <paramref name="name"/> carry the AD bit (RFC 4035 §3.2.3), as a validating resolver sets it for
    /// a DNSSEC-signed zone; no signatures are made (the server trusts its resolver's word, as DANE senders do).
    /// </summary>
    public LoopbackDnsServer Authenticated(string name)
    {
        _authenticated[name] = true;
        return this;
    }

    /// <summary>Queries for <paramref name="name"/> (any type) answer SERVFAIL.</summary>
    public LoopbackDnsServer FailWithServerFailure(string name)
    {
        _failures[name] = true;
        return this;
    }

    /// <summary>Queries for <paramref name="name"/> get no answer at all (the client times out).</summary>
    public LoopbackDnsServer NeverAnswer(string name)
    {
        _silent[name] = true;
        return this;
    }

    /// <summary>Removes every record of <paramref name="name"/>.</summary>
    public void Remove(string name) => _records.TryRemove(name, out _);

    private LoopbackDnsServer Add(string name, RecordType type, byte[] data, int ttl)
    {
        var list = _records.GetOrAdd(name.TrimEnd('.'), _ => []);
        lock (list)
            list.Add(new Record(name.TrimEnd('.'), type, data, ttl));
        return this;
    }

    private async Task ServeUdpAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            UdpReceiveResult received;
            try
            {
                received = await _udp.ReceiveAsync(_stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException)
            {
                continue; // ICMP port unreachable from an earlier reply: keep serving
            }
            if (Answer(received.Buffer, maxSize: null) is { } reply)
                await _udp.SendAsync(reply, received.RemoteEndPoint, _stop.Token);
        }
    }

    private async Task ServeTcpAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _tcp.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            _ = Task.Run(async () =>
            {
                using var c = client;
                var stream = c.GetStream();
                var length = new byte[2];
                try
                {
                    // RFC 1035 §4.2.2: each message is preceded by a two-byte length.
                    while (true)
                    {
                        await stream.ReadExactlyAsync(length, _stop.Token);
                        var query = new byte[BinaryPrimitives.ReadUInt16BigEndian(length)];
                        await stream.ReadExactlyAsync(query, _stop.Token);
                        if (Answer(query, maxSize: ushort.MaxValue) is not { } reply)
                            continue;
                        var framed = new byte[reply.Length + 2];
                        BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)reply.Length);
                        reply.CopyTo(framed, 2);
                        await stream.WriteAsync(framed, _stop.Token);
                    }
                }
                catch (Exception) { /* the client closed the connection, or we are stopping */ }
            });
        }
    }

    /// <summary>Builds the reply to one query message, or null to stay silent.</summary>
    private byte[]? Answer(byte[] query, int? maxSize)
    {
        if (query.Length < 12)
            return null;
        var id = BinaryPrimitives.ReadUInt16BigEndian(query);
        var flags = BinaryPrimitives.ReadUInt16BigEndian(query.AsSpan(2));
        var questions = BinaryPrimitives.ReadUInt16BigEndian(query.AsSpan(4));
        var additional = BinaryPrimitives.ReadUInt16BigEndian(query.AsSpan(10));
        if (questions != 1)
            return Header(id, flags, rcode: 1, 0, 0, []); // FORMERR
        var offset = 12;
        var name = ReadName(query, ref offset);
        var questionEnd = offset + 4;
        if (questionEnd > query.Length)
            return null;
        var type = (RecordType)BinaryPrimitives.ReadUInt16BigEndian(query.AsSpan(offset));
        _queries.Enqueue($"{name} {type.ToString().ToUpperInvariant()}");

        // EDNS (RFC 6891): the OPT record's class is the requester's UDP payload size.
        var udpLimit = 512;
        var hasOpt = false;
        if (additional > 0 && questionEnd + 11 <= query.Length && query[questionEnd] == 0
            && BinaryPrimitives.ReadUInt16BigEndian(query.AsSpan(questionEnd + 1)) == (ushort)RecordType.Opt)
        {
            hasOpt = true;
            udpLimit = Math.Max(512, (int)BinaryPrimitives.ReadUInt16BigEndian(query.AsSpan(questionEnd + 3)));
        }
        var limit = maxSize ?? udpLimit;
        var question = query.AsSpan(12, questionEnd - 12).ToArray();

        if (_silent.ContainsKey(name))
            return null;
        if (_failures.ContainsKey(name))
            return Header(id, flags, rcode: 2, 1, 0, question, hasOpt); // SERVFAIL

        var answers = new List<Record>();
        var current = name;
        for (var hops = 0; hops < 8; hops++)
        {
            var records = Snapshot(current);
            var cname = records.FirstOrDefault(r => r.Type == RecordType.Cname);
            if (cname is not null && type != RecordType.Cname)
            {
                answers.Add(cname);
                var o = 0;
                current = ReadName(cname.Data, ref o);
                continue;
            }
            answers.AddRange(records.Where(r => r.Type == type));
            break;
        }

        var exists = answers.Count > 0 || Exists(name);
        var body = new List<byte>(question);
        foreach (var record in answers)
        {
            body.AddRange(EncodeName(record.Name));
            body.Add((byte)((ushort)record.Type >> 8)); body.Add((byte)record.Type);
            body.Add(0); body.Add(1); // class IN
            body.AddRange([(byte)(record.Ttl >> 24), (byte)(record.Ttl >> 16), (byte)(record.Ttl >> 8), (byte)record.Ttl]);
            body.Add((byte)(record.Data.Length >> 8)); body.Add((byte)record.Data.Length);
            body.AddRange(record.Data);
        }
        ushort authorities = 0;
        if (answers.Count == 0 && NegativeTtlSeconds is { } negativeTtl)
        {
            // RFC 2308 §3: the zone's SOA in the authority section; TTL and MINIMUM give the negative TTL.
            var soa = new List<byte>();
            soa.AddRange(EncodeName("ns.test")); soa.AddRange(EncodeName("hostmaster.test"));
            foreach (var value in new[] { 1, 3600, 600, 86400, negativeTtl }) // serial, refresh, retry, expire, minimum
                soa.AddRange([(byte)(value >> 24), (byte)(value >> 16), (byte)(value >> 8), (byte)value]);
            body.AddRange(EncodeName("test"));
            body.Add(0); body.Add((byte)RecordType.Soa);
            body.Add(0); body.Add(1);
            body.AddRange([(byte)(negativeTtl >> 24), (byte)(negativeTtl >> 16), (byte)(negativeTtl >> 8), (byte)negativeTtl]);
            body.Add((byte)(soa.Count >> 8)); body.Add((byte)soa.Count);
            body.AddRange(soa);
            authorities = 1;
        }
        var reply = Header(id, flags, rcode: exists ? 0 : 3, 1, (ushort)answers.Count, body.ToArray(), hasOpt, authorities);
        if (_authenticated.ContainsKey(name))
            reply[3] |= 0x20; // AD
        if (reply.Length <= limit)
            return reply;
        // Too big for UDP: truncated reply with TC set, so the client retries over TCP (RFC 1035 §4.2.1).
        var truncated = Header(id, flags, rcode: 0, 1, 0, question, hasOpt);
        truncated[2] |= 0x02;
        return truncated;
    }

    private List<Record> Snapshot(string name)
    {
        if (!_records.TryGetValue(name, out var list))
            return [];
        lock (list)
            return [.. list];
    }

    private bool Exists(string name) =>
        _records.Keys.Any(k => k.Equals(name, StringComparison.OrdinalIgnoreCase)
                               || k.EndsWith("." + name, StringComparison.OrdinalIgnoreCase));

    private static byte[] Header(ushort id, ushort queryFlags, int rcode, ushort questions, ushort answers, byte[] body, bool withOpt = false, ushort authorities = 0)
    {
        // QR=1, the query's opcode and RD, AA=1, RA=1.
        var flags = (ushort)(0x8000 | (queryFlags & 0x7900) | 0x0400 | 0x0080 | rcode);
        var message = new byte[12 + body.Length + (withOpt ? 11 : 0)];
        BinaryPrimitives.WriteUInt16BigEndian(message, id);
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(2), flags);
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(4), questions);
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(6), answers);
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(8), authorities);
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(10), (ushort)(withOpt ? 1 : 0));
        body.CopyTo(message, 12);
        if (withOpt)
        {
            var opt = message.AsSpan(12 + body.Length);
            opt[0] = 0; // root name
            BinaryPrimitives.WriteUInt16BigEndian(opt[1..], (ushort)RecordType.Opt);
            BinaryPrimitives.WriteUInt16BigEndian(opt[3..], 4096);
        }
        return message;
    }

    private static string ReadName(byte[] message, ref int offset)
    {
        var labels = new List<string>();
        var jumped = false;
        var position = offset;
        for (var guard = 0; guard < 128 && position < message.Length; guard++)
        {
            int length = message[position];
            if (length == 0)
            {
                position++;
                break;
            }
            if ((length & 0xC0) == 0xC0)
            {
                var pointer = ((length & 0x3F) << 8) | message[position + 1];
                if (!jumped)
                    offset = position + 2;
                jumped = true;
                position = pointer;
                continue;
            }
            labels.Add(Encoding.ASCII.GetString(message, position + 1, length));
            position += length + 1;
        }
        if (!jumped)
            offset = position;
        return string.Join('.', labels);
    }

    private static byte[] EncodeName(string name)
    {
        var result = new List<byte>();
        foreach (var label in name.TrimEnd('.').Split('.', StringSplitOptions.RemoveEmptyEntries))
        {
            var bytes = Encoding.ASCII.GetBytes(label);
            result.Add((byte)bytes.Length);
            result.AddRange(bytes);
        }
        result.Add(0);
        return result.ToArray();
    }

    private static string ReverseName(IPAddress address)
    {
        var bytes = address.GetAddressBytes();
        if (address.AddressFamily == AddressFamily.InterNetwork)
            return string.Join('.', bytes.Reverse().Select(b => b.ToString(System.Globalization.CultureInfo.InvariantCulture))) + ".in-addr.arpa";
        var nibbles = bytes.SelectMany(b => new[] { b >> 4, b & 0xF }).Reverse().Select(n => n.ToString("x", System.Globalization.CultureInfo.InvariantCulture));
        return string.Join('.', nibbles) + ".ip6.arpa";
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _udp.Dispose();
        _tcp.Stop();
        await Task.WhenAll(_udpLoop, _tcpLoop).ContinueWith(_ => { }, TaskScheduler.Default);
        _stop.Dispose();
    }
}
