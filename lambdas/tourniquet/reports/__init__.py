"""Reports on the incidents of a period: `tourniquet report`, and the weekly message to the channel."""
