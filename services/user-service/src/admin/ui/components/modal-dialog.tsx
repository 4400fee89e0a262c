import type { ComponentChildren, RefObject } from 'preact';
import { useEffect, useRef } from 'preact/hooks';

export interface ModalDialogProps {
  /** The id of the element that names the dialog (its question or heading). */
  labelledBy: string;
  /** Called once the dialog has closed by Escape or by the owner's buttons (unmounting closes it too). */
  onClose: () => void;
  /** What gets the focus when the dialog opens; the browser's first focusable element otherwise. */
  initialFocus?: RefObject<HTMLElement>;
  children: ComponentChildren;
}

/**
 * A native <dialog> opened with showModal(): the browser makes the rest of the page inert, keeps the focus
 * inside, closes it on Escape and puts it in the top layer, so no hand-made focus trap or z-index is needed.
 * It is open while mounted; the owner closes it by no longer rendering it. The focus goes back to what had it
 * before (the button that opened it), so a keyboard user continues where they were.
 */
export function ModalDialog({ labelledBy, onClose, initialFocus, children }: ModalDialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  // The latest onClose, without reopening the dialog when the owner passes a new function on each render.
  const closeRef = useRef(onClose);
  closeRef.current = onClose;

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : undefined;
    const closed = () => closeRef.current();
    dialog.addEventListener('close', closed);
    dialog.showModal();
    initialFocus?.current?.focus();
    return () => {
      // Unmounted by the owner: close without reporting back (the owner already knows).
      dialog.removeEventListener('close', closed);
      if (dialog.open) dialog.close();
      if (opener?.isConnected) opener.focus();
    };
  }, []);

  return (
    <dialog ref={ref} aria-labelledby={labelledBy} class="modal">
      {children}
    </dialog>
  );
}
