import { useId, useRef } from 'preact/hooks';
import { ModalDialog } from './modal-dialog';

export interface ConfirmDialogProps {
  /** The question, naming what will happen to what: "Delete ada@example.com? This cannot be undone." */
  message: string;
  /** The confirming button's words, naming the object again: "Delete ada@example.com". */
  confirmLabel: string;
  onConfirm: () => void;
  onCancel: () => void;
  /** While the action runs: both buttons disabled, so it cannot be sent twice. */
  busy?: boolean;
  /** Why the action failed (it stays open so the reader sees it next to what they pressed). */
  error?: string | undefined;
}

/**
 * A yes/no question before something that cannot be undone. Cancel has the focus first, so an Enter pressed
 * out of habit does not delete; Escape closes it (the native <dialog>'s cancel).
 */
export function ConfirmDialog({ message, confirmLabel, onConfirm, onCancel, busy, error }: ConfirmDialogProps) {
  const cancel = useRef<HTMLButtonElement>(null);
  const id = useId();
  return (
    <ModalDialog labelledBy={`${id}-message`} onClose={onCancel} initialFocus={cancel}>
      <p id={`${id}-message`}>{message}</p>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <div class="dialog-buttons">
        <button type="button" ref={cancel} onClick={onCancel} disabled={busy}>
          Cancel
        </button>
        <button type="button" class="danger" onClick={onConfirm} disabled={busy}>
          {confirmLabel}
        </button>
      </div>
    </ModalDialog>
  );
}
