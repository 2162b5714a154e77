/* The floor for apitap's throughput bar: the cheapest possible pass over a capture with
 * libpcap, touching every packet's header and first byte so nothing is optimised away.
 *
 *   cc -O2 -o pcap_floor bench/pcap_floor.c -lpcap && ./pcap_floor CAPTURE
 */
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdint.h>

int main(int argc, char **argv) {
    char err[PCAP_ERRBUF_SIZE];
    if (argc != 2) { fprintf(stderr, "usage: %s CAPTURE\n", argv[0]); return 2; }
    pcap_t *p = pcap_open_offline(argv[1], err);
    if (!p) { fprintf(stderr, "%s\n", err); return 1; }
    struct pcap_pkthdr *h;
    const u_char *data;
    uint64_t packets = 0, bytes = 0, sum = 0;
    int rc;
    while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
        packets++;
        bytes += h->len;
        if (h->caplen) sum += data[0];
    }
    if (rc == PCAP_ERROR) { fprintf(stderr, "%s\n", pcap_geterr(p)); return 1; }
    printf("%llu packets %llu bytes (checksum %llu)\n", (unsigned long long)packets,
           (unsigned long long)bytes, (unsigned long long)sum);
    pcap_close(p);
    return 0;
}
