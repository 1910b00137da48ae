package e2ee

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"testing/cryptotest"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json and the fuzz seeds from the current code")

const vectorsFile = "testdata/vectors.json"

// Every byte this package derives, binds, signs or encodes, from fixed
// inputs. HPKE seals draw randomness from crypto/rand, made deterministic
// here by testing/cryptotest (seed 1 before each seal); Go may change how
// HPKE consumes it, which would change "sealed" but not whether the
// recorded seals open, which the test checks separately.
type vectors struct {
	Suite    string          `json:"suite"`
	Domains  []string        `json:"domains"`
	Fields   []fieldsVector  `json:"fields"`
	Peers    []peerVector    `json:"peers"`
	Bundle   bundleVector    `json:"bundle"`
	Seal     sealVector      `json:"seal"`
	Chain    chainVector     `json:"chain"`
	Padding  []paddingVector `json:"padding"`
	Message  messageVector   `json:"message"`
	Invite   inviteVector    `json:"invite"`
	DMInit   dmInitVector    `json:"dm_init"`
	Topic    topicVector     `json:"topic"`
	Room     string          `json:"room"`
	EpochID  string          `json:"epoch_id"`
	Now      string          `json:"now"`
	Sizeinfo map[string]int  `json:"sizes"`
}

type fieldsVector struct {
	Domain  string   `json:"domain"`
	Fields  []string `json:"fields"`
	Encoded string   `json:"encoded"`
}

type peerVector struct {
	IdentitySeed string `json:"identity_seed"`
	Peer         string `json:"peer"`
	KEMSeed      string `json:"kem_seed"`
	KEMPublicKey string `json:"kem_public_key"`
}

type bundleVector struct {
	Payload  string `json:"payload"`
	Envelope string `json:"envelope"`
	Hash     string `json:"hash"`
	DHTKey   string `json:"dht_key"`
}

type sealVector struct {
	Secret string `json:"epoch_secret"`
	Info   string `json:"info"`
	Sealed string `json:"sealed"`
}

type chainVector struct {
	ChainInfo string      `json:"chain_info"`
	ChainKey  string      `json:"chain_key"`
	Steps     []chainStep `json:"steps"`
}

type chainStep struct {
	Index        uint64 `json:"index"`
	MessageKey   string `json:"message_key"`
	NextChainKey string `json:"next_chain_key"`
}

type paddingVector struct {
	Kind   string `json:"kind"`
	Body   string `json:"body"`
	Padded string `json:"padded"`
}

type messageVector struct {
	Index      uint64 `json:"index"`
	Kind       string `json:"kind"`
	Body       string `json:"body"`
	Nonce      string `json:"nonce"`
	AAD        string `json:"aad"`
	Ciphertext string `json:"ciphertext"`
	// ReceiverState is the marshalled chain of a receiver that opened
	// only this message (index 1), so it holds index 0's key.
	ReceiverState string `json:"receiver_state"`
}

type inviteVector struct {
	Payload    string `json:"payload"`
	Envelope   string `json:"envelope"`
	Secret     string `json:"secret"`
	SecretHash string `json:"secret_hash"`
	Token      string `json:"token"`
	ProofInfo  string `json:"proof_info"`
	Proof      string `json:"proof"`
}

// topicVector is an epoch's topic and rendezvous from the seal's secret.
type topicVector struct {
	TopicInfo      string `json:"topic_info"`
	Topic          string `json:"topic"`
	RendezvousInfo string `json:"rendezvous_info"`
	Rendezvous     string `json:"rendezvous"`
}

type dmInitVector struct {
	Statement string `json:"statement"`
	Encoded   string `json:"encoded"`
	InboxKey  string `json:"inbox_key"` // DMInboxKey(recipient, its bundle hash)
}

func h(b []byte) string { return hex.EncodeToString(b) }

func buildVectors(t *testing.T) *vectors {
	a, b := newPerson(t, 1), newPerson(t, 2)
	ep := testEpoch()
	secret := fixedSecret()
	v := &vectors{Suite: Suite, Room: ep.Room, EpochID: h(ep.ID), Now: t0.Format(time.RFC3339)}
	v.Domains = []string{BundleDomain, InviteDomain, domainBundleHash, domainEpochSeal, domainChain,
		domainChainNext, domainMessageKey, domainMessage, domainInviteSecret, domainInviteProof, domainDMInit, domainDMInbox,
		domainTopic, domainRendezvous}
	for _, f := range [][][]byte{{}, {{}}, {[]byte("a"), []byte("bc")}, {make([]byte, 200)}} {
		fv := fieldsVector{Domain: "parley/v1/test", Encoded: h(fields("parley/v1/test", f...))}
		for _, x := range f {
			fv.Fields = append(fv.Fields, h(x))
		}
		v.Fields = append(v.Fields, fv)
	}
	for _, p := range []*person{a, b} {
		n := byte(1)
		if p == b {
			n = 2
		}
		v.Peers = append(v.Peers, peerVector{IdentitySeed: h(seed("identity", n)), Peer: p.id.String(),
			KEMSeed: h(seed("kem", n)), KEMPublicKey: h(p.kp.PublicKey())})
	}

	payload, err := b.bundle.MarshalRecord()
	if err != nil {
		t.Fatal(err)
	}
	bh := b.bundle.Hash()
	v.Bundle = bundleVector{Payload: h(payload), Envelope: h(b.bundle.Raw()), Hash: h(bh[:]), DHTKey: BundleKey(b.id)}

	cryptotest.SetGlobalRandom(t, 1)
	sealed, err := SealEpochSecret(b.bundle, ep, secret, t0)
	if err != nil {
		t.Fatal(err)
	}
	v.Seal = sealVector{Secret: h(secret), Info: h(sealInfo(ep, b.id, bh)), Sealed: h(sealed)}

	ck, err := ChainKey(secret, ep, a.id)
	if err != nil {
		t.Fatal(err)
	}
	v.Chain = chainVector{ChainInfo: h(fields(domainChain, []byte(ep.Room), ep.ID, []byte(a.id))), ChainKey: h(ck)}
	for i, k := uint64(0), ck; i < 3; i++ {
		mk, next := step(k)
		v.Chain.Steps = append(v.Chain.Steps, chainStep{Index: i, MessageKey: h(mk), NextChainKey: h(next)})
		k = next
	}

	for _, p := range []struct {
		kind string
		body []byte
	}{{"msg", nil}, {"msg", []byte("hello")}, {"name", bytes.Repeat([]byte{0xab}, 300)}} {
		padded, err := pad(p.kind, p.body)
		if err != nil {
			t.Fatal(err)
		}
		v.Padding = append(v.Padding, paddingVector{Kind: p.kind, Body: h(p.body), Padded: h(padded)})
	}

	chain, err := NewChain(ep, a.id, ck)
	if err != nil {
		t.Fatal(err)
	}
	nonce := seed("nonce", 0)[:NonceSize]
	body := []byte("hello, private room")
	if _, err := chain.seal("msg", []byte("index 0"), nonce); err != nil {
		t.Fatal(err)
	}
	ct, err := chain.seal("msg", body, nonce)
	if err != nil {
		t.Fatal(err)
	}
	recv, err := NewChain(ep, a.id, ck)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseCiphertext(ct)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := recv.Open(parsed); err != nil {
		t.Fatal(err)
	}
	state, err := recv.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	v.Message = messageVector{Index: 1, Kind: "msg", Body: h(body), Nonce: h(nonce),
		AAD: h(messageAAD(ep, a.id, 1)), Ciphertext: h(ct), ReceiverState: h(state)}

	inv, err := signInvite(a.key, Invite{Inviter: a.id, Room: ep.Room, ID: seed("invite id", 0)[:InviteIDSize],
		Created: t0, Expires: t0.Add(24 * time.Hour), MaxUses: 1, Invitee: b.id})
	if err != nil {
		t.Fatal(err)
	}
	invSecret := seed("invite secret", 0)
	invPayload, _ := inv.MarshalRecord()
	sh := SecretHash(&inv.Invite, invSecret)
	tok := &InviteToken{Invite: inv, Secret: invSecret}
	cryptotest.SetGlobalRandom(t, 1)
	proof, err := ProveSecret(a.bundle, tok, b.id, t0)
	if err != nil {
		t.Fatal(err)
	}
	v.Invite = inviteVector{Payload: h(invPayload), Envelope: h(inv.Raw()), Secret: h(invSecret), SecretHash: h(sh[:]),
		Token: h(tok.Encode()), ProofInfo: h(proofInfo(&inv.Invite, b.id, a.bundle.Hash())), Proof: h(proof)}

	cryptotest.SetGlobalRandom(t, 1)
	d, err := SealDMInit(a.key, b.bundle, ep, secret, t0)
	if err != nil {
		t.Fatal(err)
	}
	inbox := DMInboxKey(b.id, b.bundle.Hash())
	v.DMInit = dmInitVector{Statement: h(d.statement()), Encoded: h(d.Encode()), InboxKey: h(inbox[:])}

	et, err := DeriveTopic(secret, ep)
	if err != nil {
		t.Fatal(err)
	}
	v.Topic = topicVector{TopicInfo: h(topicInfo(ep)), Topic: et.Topic,
		RendezvousInfo: h(rendezvousInfo(ep)), Rendezvous: et.Rendezvous}

	v.Sizeinfo = map[string]int{
		"signed_bundle": len(b.bundle.Raw()), "sealed_epoch_secret": len(sealed),
		"ciphertext_short_message": len(ct), "signed_invite": len(inv.Raw()),
		"invite_token": len(tok.Encode()), "dm_init": len(d.Encode()),
	}
	return v
}

func TestVectors(t *testing.T) {
	v := buildVectors(t)
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile(vectorsFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
		writeFuzzSeeds(t, v)
	}
	want, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the code no longer produces %s byte for byte (a wire or derivation change needs a new suite or version; go test -run TestVectors -update rewrites it)", vectorsFile)
	}
}

// TestVectorsOpen checks the recorded ciphertexts against the recorded
// keys, independently of how HPKE draws its randomness.
func TestVectorsOpen(t *testing.T) {
	raw, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	un := func(s string) []byte {
		t.Helper()
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b := newPerson(t, 1), newPerson(t, 2)
	ep := Epoch{Room: v.Room, ID: un(v.EpochID)}
	bundle, err := ParseBundle(un(v.Bundle.Envelope))
	if err != nil {
		t.Fatal(err)
	}
	secret, err := OpenEpochSecret(b.kp, bundle, ep, un(v.Seal.Sealed))
	if err != nil || !bytes.Equal(secret, un(v.Seal.Secret)) {
		t.Fatalf("recorded seal: %x, %v", secret, err)
	}
	keys, err := NewEpochKeys(ep, secret, []peer.ID{a.id})
	if err != nil {
		t.Fatal(err)
	}
	ct, err := ParseCiphertext(un(v.Message.Ciphertext))
	if err != nil {
		t.Fatal(err)
	}
	m, err := keys.Chain(a.id).Open(ct)
	if err != nil || string(m.Body) != string(un(v.Message.Body)) || m.Index != 1 {
		t.Fatalf("recorded message: %+v, %v", m, err)
	}
	tok, err := ParseToken(un(v.Invite.Token))
	if err != nil {
		t.Fatal(err)
	}
	var sh [HashSize]byte
	copy(sh[:], un(v.Invite.SecretHash))
	if err := CheckSecret(a.kp, a.bundle, tok.Invite, sh, b.id, un(v.Invite.Proof), t0); err != nil {
		t.Fatalf("recorded invite proof: %v", err)
	}
	d, err := ParseDMInit(un(v.DMInit.Encoded))
	if err != nil {
		t.Fatal(err)
	}
	if s, err := OpenDMInit(b.kp, bundle, d); err != nil || !bytes.Equal(s, un(v.Seal.Secret)) {
		t.Fatalf("recorded dm-init: %x, %v", s, err)
	}
}

// writeFuzzSeeds puts the vectors' encodings in the fuzz corpora.
func writeFuzzSeeds(t *testing.T, v *vectors) {
	un := func(s string) []byte { b, _ := hex.DecodeString(s); return b }
	for target, raw := range map[string][]byte{
		"FuzzParseBundle":     un(v.Bundle.Envelope),
		"FuzzParseInvite":     un(v.Invite.Envelope),
		"FuzzParseToken":      un(v.Invite.Token),
		"FuzzParseCiphertext": un(v.Message.Ciphertext),
		"FuzzParseDMInit":     un(v.DMInit.Encoded),
		"FuzzUnpad":           un(v.Padding[1].Padded),
		"FuzzRestoreChain":    un(v.Message.ReceiverState),
	} {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(raw)))
		if err := os.WriteFile(filepath.Join(dir, "vector"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
