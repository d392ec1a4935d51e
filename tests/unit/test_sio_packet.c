/* The Socket.IO packet codec and binary reassembly: the protocol README's examples, the
 * reference test suite's packets, every truncation, and malformed input. */
#include "tc_test.h"
#include "tincan/sio.h"

#include <stdlib.h>

static int dec(const char *s, tc_sio_packet_t *p) {
  return tc_sio_packet_decode((const uint8_t *)s, strlen(s), 0, p);
}

static void test_decode_examples(void) {
  tc_sio_packet_t p;
  TC_CHECK_EQ_INT(dec("0", &p), 0);
  TC_CHECK_EQ_INT(p.type, TC_SIO_CONNECT);
  TC_CHECK_SLICE(p.nsp, "/");
  TC_CHECK_EQ_INT(p.data.len, 0);

  TC_CHECK_EQ_INT(dec("0/admin,{\"token\":\"123\"}", &p), 0);
  TC_CHECK_SLICE(p.nsp, "/admin");
  TC_CHECK_SLICE(p.data, "{\"token\":\"123\"}");
  TC_CHECK_EQ_INT(dec("0/admin,", &p), 0);
  TC_CHECK_SLICE(p.nsp, "/admin");
  TC_CHECK_EQ_INT(dec("0/random", &p), 0); /* no comma: the name runs to the end */
  TC_CHECK_SLICE(p.nsp, "/random");

  TC_CHECK_EQ_INT(dec("1", &p), 0);
  TC_CHECK_EQ_INT(p.type, TC_SIO_DISCONNECT);
  TC_CHECK_EQ_INT(dec("1/custom", &p), 0);
  TC_CHECK_SLICE(p.nsp, "/custom");

  TC_CHECK_EQ_INT(dec("2[\"foo\"]", &p), 0);
  TC_CHECK_EQ_INT(p.type, TC_SIO_EVENT);
  TC_CHECK_SLICE(p.event, "\"foo\"");
  TC_CHECK_EQ_INT(p.args.len, 0);
  TC_CHECK(!p.has_id);

  TC_CHECK_EQ_INT(dec("2[\"message\",1,\"2\",{\"3\":[true]}]", &p), 0);
  TC_CHECK_SLICE(p.event, "\"message\"");
  TC_CHECK_SLICE(p.args, "1,\"2\",{\"3\":[true]}");

  TC_CHECK_EQ_INT(dec("2/admin,13[\"foo\"]", &p), 0);
  TC_CHECK_SLICE(p.nsp, "/admin");
  TC_CHECK(p.has_id);
  TC_CHECK_EQ_INT(p.id, 13);

  TC_CHECK_EQ_INT(dec("2456[\"message-with-ack\",1,\"2\",{\"3\":[false]}]", &p), 0);
  TC_CHECK_EQ_INT(p.id, 456);
  TC_CHECK_SLICE(p.args, "1,\"2\",{\"3\":[false]}");

  TC_CHECK_EQ_INT(dec("312[]", &p), 0);
  TC_CHECK_EQ_INT(p.type, TC_SIO_ACK);
  TC_CHECK_EQ_INT(p.id, 12);
  TC_CHECK_EQ_INT(p.args.len, 0);
  TC_CHECK_EQ_INT(dec("3/admin,13[ \"bar\" , 2 ]", &p), 0);
  TC_CHECK_SLICE(p.args, "\"bar\" , 2");

  TC_CHECK_EQ_INT(dec("4{\"message\":\"Not authorized\"}", &p), 0);
  TC_CHECK_EQ_INT(p.type, TC_SIO_CONNECT_ERROR);
  TC_CHECK_EQ_INT(dec("4\"string error\"", &p), 0);

  TC_CHECK_EQ_INT(dec("51-[\"baz\",{\"_placeholder\":true,\"num\":0}]", &p), 0);
  TC_CHECK_EQ_INT(p.type, TC_SIO_BINARY_EVENT);
  TC_CHECK_EQ_INT(p.attachments, 1);
  TC_CHECK_EQ_INT(dec("52-/admin,[\"baz\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,"
                      "\"num\":1}]",
                      &p),
                  0);
  TC_CHECK_EQ_INT(p.attachments, 2);
  TC_CHECK_SLICE(p.nsp, "/admin");
  TC_CHECK_EQ_INT(dec("52-789[\"message-with-ack\",{\"_placeholder\":true,\"num\":0}]", &p), 0);
  TC_CHECK_EQ_INT(p.id, 789);
  TC_CHECK_EQ_INT(dec("61-15[\"bar\",{\"_placeholder\":true,\"num\":0}]", &p), 0);
  TC_CHECK_EQ_INT(p.type, TC_SIO_BINARY_ACK);
  TC_CHECK_EQ_INT(p.id, 15);

  /* Numeric event names are allowed; whitespace around the payload is JSON's. */
  TC_CHECK_EQ_INT(dec("2[1,2]", &p), 0);
  TC_CHECK_SLICE(p.event, "1");
  TC_CHECK_SLICE(p.args, "2");
  TC_CHECK_EQ_INT(dec("2 [\"a\"] ", &p), 0);
  TC_CHECK_EQ_INT(dec("2[\"a\"  ,  \"b\"  ]", &p), 0);
  TC_CHECK_SLICE(p.args, "\"b\"");
  TC_CHECK_EQ_INT(dec("2/a/b,[\"x\"]", &p), 0);
  TC_CHECK_SLICE(p.nsp, "/a/b");
  TC_CHECK_EQ_INT(dec("2/,[\"x\"]", &p), 0);
  TC_CHECK_SLICE(p.nsp, "/");
  TC_CHECK_EQ_INT(dec("3", &p), TC_EPROTO);
  TC_CHECK_EQ_INT(dec("518446744073709551615[\"a\"]", &p), TC_EPROTO); /* type 5 needs '-' */
  TC_CHECK_EQ_INT(dec("218446744073709551615[\"a\"]", &p), 0);
  TC_CHECK(p.id == UINT64_MAX);
  TC_CHECK_EQ_INT(dec("218446744073709551616[\"a\"]", &p), TC_EPROTO);
}

static void test_decode_invalid(void) {
  static const char *const bad[] = {
      "",
      "7",
      "a",
      "4abc",
      "2{}",
      "2abc[\"message-with-ack\",1]",
      "2",
      "2[]",
      "2[\"connect\"]",
      "2[\"disconnect\",1]",
      "2[\"connect_error\"]",
      "2[\"disconnecting\"]",
      "2[\"newListener\"]",
      "2[\"removeListener\"]",
      "2[\"\\u0063onnect\"]",
      "2[null]",
      "2[true]",
      "2[{}]",
      "2[[]]",
      "2[\"a\",]",
      "2[\"a\"",
      "2[\"a\"]x",
      "0[]",
      "0\"x\"",
      "0/admin,[]",
      "1{}",
      "1/a,{}",
      "1 ",
      "3{}",
      "3\"x\"",
      "4",
      "4[]",
      "41",
      "5[\"a\"]",
      "5-[\"a\"]",
      "50-[\"a\"]",
      "51[\"a\"]",
      "5a-[\"a\"]",
      "51-",
      "51-{}",
      "6-[]",
      "2 ",
      "0{\"a\":}",
      "2[\"\xff\"]",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    tc_sio_packet_t p;
    int r = dec(bad[i], &p);
    if (r == 0) fprintf(stderr, "should be invalid: %s\n", bad[i]);
    TC_CHECK(r < 0);
  }
  tc_sio_packet_t p;
  TC_CHECK_EQ_INT(dec("511-[\"a\"]", &p), TC_E2BIG);
  TC_CHECK_EQ_INT(dec("599999999999999999999999-[\"a\"]", &p), TC_E2BIG);
  TC_CHECK_EQ_INT(tc_sio_packet_decode((const uint8_t *)"53-[\"a\"]", 8, 2, &p), TC_E2BIG);
  TC_CHECK_EQ_INT(dec("510-[\"a\"]", &p), 0);
  TC_CHECK_EQ_INT(dec("501-[\"a\"]", &p), 0); /* "01" == 1 for Node's check too */
}

/* Every prefix of a valid packet decodes to something or fails cleanly, and the whole decodes. */
static void test_truncations(void) {
  static const char *const pk[] = {
      "0/admin,{\"token\":\"123\"}",
      "2/admin,13[\"foo\",{\"a\":[1,2,\"x\\u00e9\"]}]",
      "52-/admin,789[\"baz\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]",
      "4{\"message\":\"Invalid namespace\",\"data\":{\"x\":1}}",
  };
  for (size_t i = 0; i < sizeof pk / sizeof *pk; i++) {
    size_t n = strlen(pk[i]);
    for (size_t k = 0; k < n; k++) {
      uint8_t *cut = malloc(k ? k : 1);
      memcpy(cut, pk[i], k);
      tc_sio_packet_t p;
      (void)tc_sio_packet_decode(cut, k, 0, &p);
      free(cut);
    }
    tc_sio_packet_t p;
    TC_CHECK_EQ_INT(dec(pk[i], &p), 0);
  }
  /* A cut inside the JSON is never valid. */
  tc_sio_packet_t p;
  const char *s = "2[\"foo\",{\"a\":1}]";
  for (size_t k = 2; k < strlen(s); k++)
    TC_CHECK(tc_sio_packet_decode((const uint8_t *)s, k, 0, &p) < 0);
}

static void test_encode(void) {
  static const char *const pk[] = {
      "0",
      "0/admin,",
      "0{\"sid\":\"wZX3oN0bSVIhsaknAAAI\"}",
      "0/admin,{\"sid\":\"oSO0\"}",
      "4{\"message\":\"Not authorized\"}",
      "1",
      "1/admin,",
      "2[\"foo\"]",
      "2/admin,[\"bar\"]",
      "212[\"foo\"]",
      "312[]",
      "2/admin,13[\"foo\"]",
      "3/admin,13[\"bar\"]",
      "51-[\"baz\",{\"_placeholder\":true,\"num\":0}]",
      "52-/admin,[\"baz\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]",
      "51-14[\"foo\",{\"_placeholder\":true,\"num\":0}]",
      "61-15[\"bar\",{\"_placeholder\":true,\"num\":0}]",
      "2[\"message\",1,\"2\",{\"3\":[true]}]",
  };
  for (size_t i = 0; i < sizeof pk / sizeof *pk; i++) {
    tc_sio_packet_t p;
    TC_CHECK_EQ_INT(dec(pk[i], &p), 0);
    tc_buf_t b = {0};
    TC_CHECK_EQ_INT(tc_sio_packet_encode(&b, &p), 0);
    TC_CHECK_SLICE(((tc_slice_t){tc_buf_data(&b), b.len}), pk[i]);
    tc_buf_free(&b);
  }
}

static void test_placeholders(void) {
  struct {
    const char *json;
    size_t n;
    int ok;
  } cases[] = {
      {"[\"a\",{\"_placeholder\":true,\"num\":0}]", 1, 1},
      {"[\"a\",{\"_placeholder\":true,\"num\":1}]", 1, 0},
      {"[\"a\",{\"_placeholder\":true,\"num\":-1}]", 1, 0},
      {"[\"a\",{\"_placeholder\":true,\"num\":\"0\"}]", 1, 0},
      {"[\"a\",{\"_placeholder\":true}]", 1, 0},
      {"[\"a\",{\"_placeholder\":true,\"num\":0.0}]", 1, 1},
      {"[\"a\",{\"_placeholder\":true,\"num\":0.5}]", 1, 0},
      {"[\"a\",{\"_placeholder\":false,\"num\":9}]", 1, 1},    /* not a placeholder */
      {"[\"a\",{\"_placeholder\":\"true\",\"num\":9}]", 1, 1}, /* only true counts */
      {"[\"a\",{\"_placeholder\":true,\"_placeholder\":false,\"num\":9}]", 1, 1},
      {"[\"a\",{\"num\":9,\"_placeholder\":true,\"num\":0}]", 1, 1},
      {"[\"a\",{\"x\":[{\"y\":{\"_placeholder\":true,\"num\":2}}]}]", 3, 1},
      {"[\"a\",{\"x\":[{\"y\":{\"_placeholder\":true,\"num\":3}}]}]", 3, 0},
      /* Inside a placeholder nothing is looked at. */
      {"[\"a\",{\"_placeholder\":true,\"num\":0,\"x\":{\"_placeholder\":true,\"num\":7}}]", 1, 1},
      {"[\"a\",{\"x\":{\"_placeholder\":true,\"num\":7},\"_placeholder\":true,\"num\":0}]", 1, 1},
      {"[\"a\",{\"x\":{\"_placeholder\":true,\"num\":7}}]", 1, 0},
      {"[\"a\",{\"\\u005fplaceholder\":true,\"num\":4}]", 1, 0},
      {"[\"a\",1,2]", 1, 1},
      {"[\"a\",{\"_placeholder\":true,\"num\":0}", 1, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    int r = tc_sio_placeholders_check(tc_slice_str(cases[i].json), cases[i].n);
    if ((r == 0) != cases[i].ok) fprintf(stderr, "placeholder case %zu: %s\n", i, cases[i].json);
    TC_CHECK((r == 0) == cases[i].ok);
  }
}

static int feed(tc_sio_decoder_t *d, int binary, const char *p, size_t len, tc_sio_message_t *m) {
  return tc_sio_decoder_feed(d, binary, (const uint8_t *)p, len, m);
}

static void test_reassembly(void) {
  tc_sio_decoder_t d = {0};
  tc_sio_message_t m;
  const char *head = "52-789[\"message-with-ack\",{\"_placeholder\":true,\"num\":0},"
                     "{\"_placeholder\":true,\"num\":1}]";
  /* The caller's buffer dies after each feed: the decoder must have copied it. */
  char *tmp = strdup(head);
  TC_CHECK_EQ_INT(feed(&d, 0, tmp, strlen(tmp), &m), 0);
  memset(tmp, 'x', strlen(tmp));
  free(tmp);
  char b1[] = {1, 2, 3};
  TC_CHECK_EQ_INT(feed(&d, 1, b1, 3, &m), 0);
  memset(b1, 0, sizeof b1);
  TC_CHECK_EQ_INT(feed(&d, 1, "\x04\x05\x06", 3, &m), 1);
  TC_CHECK_EQ_INT(m.pkt.type, TC_SIO_BINARY_EVENT);
  TC_CHECK_EQ_INT(m.pkt.id, 789);
  TC_CHECK_SLICE(m.pkt.event, "\"message-with-ack\"");
  TC_CHECK_SLICE(m.pkt.args, "{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}");
  TC_CHECK_SLICE(m.pkt.nsp, "/");
  TC_CHECK_EQ_INT(m.num_attachments, 2);
  TC_CHECK_SLICE(m.attachments[0], "\x01\x02\x03");
  TC_CHECK_SLICE(m.attachments[1], "\x04\x05\x06");

  /* A plain packet afterwards, then a namespaced binary one with an empty attachment. */
  TC_CHECK_EQ_INT(feed(&d, 0, "2[\"x\"]", 6, &m), 1);
  TC_CHECK_SLICE(m.pkt.event, "\"x\"");
  TC_CHECK(d.bin == NULL);
  const char *h2 = "61-/chat,4[{\"_placeholder\":true,\"num\":0}]";
  TC_CHECK_EQ_INT(feed(&d, 0, h2, strlen(h2), &m), 0);
  TC_CHECK_EQ_INT(feed(&d, 1, "", 0, &m), 1);
  TC_CHECK_SLICE(m.pkt.nsp, "/chat");
  TC_CHECK_EQ_INT(m.pkt.type, TC_SIO_BINARY_ACK);
  TC_CHECK_EQ_INT(m.attachments[0].len, 0);
  tc_sio_decoder_reset(&d);

  /* Binary with nothing pending, text while attachments are expected, a bad placeholder. */
  TC_CHECK_EQ_INT(feed(&d, 1, "\x01", 1, &m), TC_EPROTO);
  TC_CHECK_EQ_INT(feed(&d, 0, head, strlen(head), &m), 0);
  TC_CHECK_EQ_INT(feed(&d, 0, "2[\"x\"]", 6, &m), TC_EPROTO);
  TC_CHECK(d.bin == NULL); /* reset after an error */
  const char *h3 = "51-[\"a\",{\"_placeholder\":true,\"num\":1}]";
  TC_CHECK_EQ_INT(feed(&d, 0, h3, strlen(h3), &m), 0);
  TC_CHECK_EQ_INT(feed(&d, 1, "z", 1, &m), TC_EPROTO);
  TC_CHECK_EQ_INT(feed(&d, 0, "511-[\"a\"]", 9, &m), TC_E2BIG);
  d.max_attachments = 20;
  TC_CHECK_EQ_INT(feed(&d, 0, "511-[\"a\"]", 9, &m), 0);
  for (int i = 0; i < 10; i++) TC_CHECK_EQ_INT(feed(&d, 1, "q", 1, &m), 0);
  TC_CHECK_EQ_INT(feed(&d, 1, "q", 1, &m), 1);
  TC_CHECK_EQ_INT(m.num_attachments, 11);
  tc_sio_decoder_reset(&d);
  tc_sio_decoder_reset(&d);
}

int main(void) {
  TC_RUN(test_decode_examples);
  TC_RUN(test_decode_invalid);
  TC_RUN(test_truncations);
  TC_RUN(test_encode);
  TC_RUN(test_placeholders);
  TC_RUN(test_reassembly);
  return tc_test_end();
}
