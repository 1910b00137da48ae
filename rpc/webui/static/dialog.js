// The invite dialog: a modal <dialog> showing an invite token with a Copy
// button. Esc closes it (the browser does that for showModal), and focus
// goes back to whatever opened it, so keyboard users stay where they were.
export class InviteDialog {
  constructor() {
    this.d = document.getElementById('invite-dialog');
    this.title = document.getElementById('invite-title');
    this.note = document.getElementById('invite-note');
    this.text = document.getElementById('invite-text');
    this.status = document.getElementById('invite-status');
    this.opener = null;
    document.getElementById('invite-copy').addEventListener('click', () => this.copy());
    document.getElementById('invite-close').addEventListener('click', () => this.d.close());
    this.d.addEventListener('close', () => {
      const o = this.opener;
      this.opener = null;
      if (o && o.isConnected && !o.disabled) o.focus();
      else document.getElementById('composer-text').focus();
    });
  }

  // open shows invite for the room labelled label; note says who it admits.
  open(label, invite, note) {
    this.opener = document.activeElement;
    this.title.textContent = 'Invite to ' + label;
    this.note.textContent = note;
    this.text.value = invite;
    this.status.textContent = '';
    this.d.showModal();
    this.text.focus();
    this.text.select();
  }

  async copy() {
    try {
      await navigator.clipboard.writeText(this.text.value);
    } catch {
      // No clipboard permission (an embedding, an old browser): select the
      // text so Ctrl+C copies it.
      this.text.focus();
      this.text.select();
      this.status.textContent = 'Press Ctrl+C (⌘C) to copy the selected invite.';
      return;
    }
    this.status.textContent = 'Copied.';
  }
}
